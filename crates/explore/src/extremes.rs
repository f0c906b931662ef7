//! The least and the greatest total weight over every complete execution
//! of a model: for each of `dims` additive weights (any per-transition
//! count the model supplies), the minimum and maximum of its sum along the
//! paths from the initial state to a final state (one with no enabled
//! transition and no state violation), plus a weight of the final state
//! itself, with a path reaching each as a replayable trace.  A final
//! state is one where no progress action (`Model::is_progress`) is
//! enabled and no state property is violated: what is left there is
//! hardware nondeterminism, which is not followed further.
//!
//! This is what `check --cost` runs; the explorer itself (`bfs.rs`) keeps
//! no edges, so this builds the state graph once (states deduplicated,
//! every edge kept with its weights), then:
//!
//! * splits it into strongly connected components (Tarjan, iterative);
//!   a model with no cycles has only trivial ones;
//! * the maximum per weight, by dynamic programming over the components
//!   from the sinks up: a component with an edge of positive weight inside
//!   it, from which a final state is reachable, makes that weight
//!   unbounded (the cycle can be taken again and again); otherwise its
//!   nodes are interchangeable (weight-0 cycles) and it is one node;
//! * the minimum per weight, by the same programming over nodes when the
//!   graph has no cycle, else by Dijkstra's algorithm (weights are never
//!   negative).
//!
//! Transitions that violate a property or are cut by the model's limits
//! end no complete execution and are left out; their number is reported.

use crate::{Model, Transition};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The extremes of one weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extreme<A> {
    pub min: u64,
    /// None: unbounded (a cycle of positive weight lies on a complete
    /// execution).
    pub max: Option<u64>,
    /// An execution of weight `min`.
    pub min_trace: Vec<A>,
    /// An execution of weight `max` (empty when unbounded).
    pub max_trace: Vec<A>,
}

/// What [`extremes`] found.
#[derive(Clone, Debug)]
pub struct Extremes<A> {
    pub states: usize,
    pub transitions: usize,
    /// Final states (complete executions end in one of them).
    pub finals: usize,
    /// Transitions left out: property violations and cuts.
    pub violations: usize,
    pub cuts: usize,
    /// The state graph has a cycle.
    pub cyclic: bool,
    /// Per weight; None when no complete execution exists.
    pub dims: Vec<Option<Extreme<A>>>,
}

/// Why [`extremes`] gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtremesError {
    /// More states than the limit.
    TooBig { limit: usize },
    /// Stopped from outside, with the states and transitions the graph
    /// had then.
    Stopped { states: usize, transitions: usize },
}

/// Weights of one transition or final state: (weight index, amount).
pub type Weights = Vec<(usize, u32)>;

struct Graph<A> {
    /// CSR adjacency: edges of node u are `start[u]..start[u + 1]`.
    start: Vec<u32>,
    to: Vec<u32>,
    action: Vec<A>,
    /// Sparse weights of edge e: `wstart[e]..wstart[e + 1]`.
    wstart: Vec<u32>,
    wdim: Vec<u16>,
    wval: Vec<u32>,
    /// Final weight of node u, sparse, when u is final.
    fin: FxHashMap<u32, Weights>,
}

/// Builds the state graph of `m` and computes the extremes of `dims`
/// weights: `weigh(s, a)` gives the weights of the enabled transition `a`
/// from `s`, `final_weight(s)` those of a final state `s`.
pub fn extremes<M: Model>(
    m: &M,
    dims: usize,
    weigh: impl Fn(&M::State, M::Action) -> Weights,
    final_weight: impl Fn(&M::State) -> Weights,
    limit: usize,
    stop: &dyn Fn() -> bool,
) -> Result<Extremes<M::Action>, ExtremesError> {
    assert!(dims <= u16::MAX as usize);
    let mut index: FxHashMap<M::State, u32> = FxHashMap::default();
    let mut states: Vec<M::State> = Vec::new();
    let init = m.initial();
    index.insert(init.clone(), 0);
    states.push(init);
    let mut g = Graph {
        start: vec![0],
        to: Vec::new(),
        action: Vec::new(),
        wstart: vec![0],
        wdim: Vec::new(),
        wval: Vec::new(),
        fin: FxHashMap::default(),
    };
    let (mut violations, mut cuts) = (0usize, 0usize);
    let mut cands = Vec::new();
    let mut u = 0usize;
    while u < states.len() {
        if u.is_multiple_of(4096) && stop() {
            return Err(ExtremesError::Stopped {
                states: states.len(),
                transitions: g.to.len(),
            });
        }
        cands.clear();
        m.candidates(&states[u], &mut cands);
        // A state where no progress action is enabled ends an execution:
        // complete if no state property is violated there (a deadlock is
        // not), and its own hardware-only transitions are not followed.
        let mut next: Vec<(M::Action, M::State)> = Vec::new();
        let mut progress = false;
        for &a in &cands {
            let Some(t) = m.step(&states[u], a) else {
                continue;
            };
            progress |= m.is_progress(a);
            match t {
                Transition::Next(n) => next.push((a, n)),
                Transition::Violation(_) => violations += 1,
                Transition::Cut(_) => cuts += 1,
            }
        }
        if !progress {
            if m.check_state(&states[u], false).is_none() {
                g.fin.insert(u as u32, final_weight(&states[u]));
            }
            next.clear();
        }
        for (a, n) in next {
            let v = match index.get(&n) {
                Some(&v) => v,
                None => {
                    if states.len() >= limit {
                        return Err(ExtremesError::TooBig { limit });
                    }
                    let v = states.len() as u32;
                    index.insert(n.clone(), v);
                    states.push(n);
                    v
                }
            };
            g.to.push(v);
            g.action.push(a);
            for (d, w) in weigh(&states[u], a) {
                if w > 0 {
                    g.wdim.push(d as u16);
                    g.wval.push(w);
                }
            }
            g.wstart.push(g.wdim.len() as u32);
        }
        g.start.push(g.to.len() as u32);
        u += 1;
    }
    let n = states.len();
    drop(index);
    drop(states);
    let comp = tarjan(&g, n);
    let ncomp = comp.iter().map(|&c| c + 1).max().unwrap_or(0) as usize;
    let cyclic = ncomp < n || (0..n).any(|u| g.out(u).any(|e| g.to[e] as usize == u));
    // Nodes of each component, and which components reach a final state.
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); ncomp];
    for u in 0..n {
        members[comp[u] as usize].push(u as u32);
    }
    // Tarjan numbers components sinks first: every edge goes from a
    // component to one numbered no higher.
    let mut live = vec![false; ncomp];
    for c in 0..ncomp {
        live[c] = members[c].iter().any(|&u| {
            g.fin.contains_key(&u)
                || g.out(u as usize)
                    .any(|e| live[comp[g.to[e] as usize] as usize])
        });
    }
    let mut out = Vec::with_capacity(dims);
    for d in 0..dims {
        if !live[comp[0] as usize] {
            out.push(None);
            continue;
        }
        let w: Vec<u32> = (0..g.to.len()).map(|e| g.weight(e, d)).collect();
        let fw = |u: u32| -> Option<u64> {
            g.fin.get(&u).map(|ws| {
                ws.iter()
                    .filter(|(k, _)| *k == d)
                    .map(|&(_, v)| v as u64)
                    .sum()
            })
        };
        let (max, max_trace) = maximum(&g, &comp, &members, &live, &w, &fw);
        let (min, min_trace) = if cyclic {
            minimum_dijkstra(&g, n, &w, &fw)
        } else {
            minimum_dag(&g, &comp, &members, &w, &fw)
        };
        out.push(Some(Extreme {
            min,
            max,
            min_trace,
            max_trace,
        }));
    }
    Ok(Extremes {
        states: n,
        transitions: g.to.len(),
        finals: g.fin.len(),
        violations,
        cuts,
        cyclic,
        dims: out,
    })
}

impl<A: Copy> Graph<A> {
    fn out(&self, u: usize) -> std::ops::Range<usize> {
        self.start[u] as usize..self.start[u + 1] as usize
    }
    fn weight(&self, e: usize, d: usize) -> u32 {
        let r = self.wstart[e] as usize..self.wstart[e + 1] as usize;
        r.filter(|&i| self.wdim[i] as usize == d)
            .map(|i| self.wval[i])
            .sum()
    }
}

/// Strongly connected components, numbered sinks first (iterative Tarjan).
fn tarjan<A: Copy>(g: &Graph<A>, n: usize) -> Vec<u32> {
    const UNSEEN: u32 = u32::MAX;
    let mut idx = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut comp = vec![UNSEEN; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut next_idx = 0u32;
    let mut next_comp = 0u32;
    // (node, next edge to look at)
    let mut call: Vec<(u32, usize)> = Vec::new();
    for root in 0..n {
        if idx[root] != UNSEEN {
            continue;
        }
        call.push((root as u32, g.start[root] as usize));
        idx[root] = next_idx;
        low[root] = next_idx;
        next_idx += 1;
        stack.push(root as u32);
        on_stack[root] = true;
        while let Some(&mut (u, ref mut e)) = call.last_mut() {
            let u = u as usize;
            if *e < g.start[u + 1] as usize {
                let v = g.to[*e] as usize;
                *e += 1;
                if idx[v] == UNSEEN {
                    idx[v] = next_idx;
                    low[v] = next_idx;
                    next_idx += 1;
                    stack.push(v as u32);
                    on_stack[v] = true;
                    call.push((v as u32, g.start[v] as usize));
                } else if on_stack[v] {
                    low[u] = low[u].min(idx[v]);
                }
                continue;
            }
            call.pop();
            if let Some(&(p, _)) = call.last() {
                let p = p as usize;
                low[p] = low[p].min(low[u]);
            }
            if low[u] == idx[u] {
                loop {
                    let w = stack.pop().expect("u is on the stack") as usize;
                    on_stack[w] = false;
                    comp[w] = next_comp;
                    if w == u {
                        break;
                    }
                }
                next_comp += 1;
            }
        }
    }
    comp
}

/// A path inside component `c` from `from` to `to` (its edges), by BFS.
fn inside<A: Copy>(g: &Graph<A>, comp: &[u32], from: u32, to: u32) -> Vec<usize> {
    if from == to {
        return Vec::new();
    }
    let c = comp[from as usize];
    let mut prev: FxHashMap<u32, usize> = FxHashMap::default();
    let mut q = VecDeque::from([from]);
    while let Some(u) = q.pop_front() {
        for e in g.out(u as usize) {
            let v = g.to[e];
            if comp[v as usize] != c || v == from || prev.contains_key(&v) {
                continue;
            }
            prev.insert(v, e);
            if v == to {
                let mut path = Vec::new();
                let mut x = to;
                while x != from {
                    let e = prev[&x];
                    path.push(e);
                    x = source(g, e);
                }
                path.reverse();
                return path;
            }
            q.push_back(v);
        }
    }
    unreachable!("nodes of one component reach each other")
}

/// The source node of edge `e`.
fn source<A: Copy>(g: &Graph<A>, e: usize) -> u32 {
    (g.start.partition_point(|&s| s as usize <= e) - 1) as u32
}

fn maximum<A: Copy>(
    g: &Graph<A>,
    comp: &[u32],
    members: &[Vec<u32>],
    live: &[bool],
    w: &[u32],
    fw: &dyn Fn(u32) -> Option<u64>,
) -> (Option<u64>, Vec<A>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Best {
        Dead,
        Unbounded,
        /// Value, and how: ending at final node, or leaving by edge.
        At(u64, Exit),
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Exit {
        Final(u32),
        Edge(usize),
    }
    let ncomp = members.len();
    let mut best = vec![Best::Dead; ncomp];
    for c in 0..ncomp {
        if !live[c] {
            continue;
        }
        let positive_inside = members[c].iter().any(|&u| {
            g.out(u as usize)
                .any(|e| comp[g.to[e] as usize] as usize == c && w[e] > 0)
        });
        if positive_inside {
            best[c] = Best::Unbounded;
            continue;
        }
        let mut b = Best::Dead;
        for &u in &members[c] {
            if let Some(f) = fw(u)
                && !matches!(b, Best::At(v, _) if v >= f)
            {
                b = Best::At(f, Exit::Final(u));
            }
            for e in g.out(u as usize) {
                let t = comp[g.to[e] as usize] as usize;
                if t == c {
                    continue;
                }
                match best[t] {
                    Best::Dead => {}
                    Best::Unbounded => b = Best::Unbounded,
                    Best::At(v, _) => {
                        let v = v + w[e] as u64;
                        if b != Best::Unbounded && !matches!(b, Best::At(x, _) if x >= v) {
                            b = Best::At(v, Exit::Edge(e));
                        }
                    }
                }
                if b == Best::Unbounded {
                    break;
                }
            }
            if b == Best::Unbounded {
                break;
            }
        }
        best[c] = b;
    }
    match best[comp[0] as usize] {
        Best::Dead => unreachable!("the initial component is live"),
        Best::Unbounded => (None, Vec::new()),
        Best::At(v, _) => {
            let mut trace = Vec::new();
            let mut u = 0u32;
            loop {
                let c = comp[u as usize] as usize;
                let Best::At(_, exit) = best[c] else {
                    unreachable!("a bounded component leads only to bounded ones")
                };
                match exit {
                    Exit::Final(x) => {
                        trace.extend(inside(g, comp, u, x).into_iter().map(|e| g.action[e]));
                        break;
                    }
                    Exit::Edge(e) => {
                        let x = source(g, e);
                        trace.extend(inside(g, comp, u, x).into_iter().map(|e| g.action[e]));
                        trace.push(g.action[e]);
                        u = g.to[e];
                    }
                }
            }
            (Some(v), trace)
        }
    }
}

/// Minimum over an acyclic graph: per node, sinks first.
fn minimum_dag<A: Copy>(
    g: &Graph<A>,
    comp: &[u32],
    members: &[Vec<u32>],
    w: &[u32],
    fw: &dyn Fn(u32) -> Option<u64>,
) -> (u64, Vec<A>) {
    let n = comp.len();
    // (value, how: None = final here, Some(e) = edge)
    let mut best: Vec<Option<(u64, Option<usize>)>> = vec![None; n];
    for c in members {
        let u = c[0] as usize;
        let mut b = fw(u as u32).map(|f| (f, None));
        for e in g.out(u) {
            if let Some((v, _)) = best[g.to[e] as usize] {
                let v = v + w[e] as u64;
                if b.is_none_or(|(x, _)| v < x) {
                    b = Some((v, Some(e)));
                }
            }
        }
        best[u] = b;
    }
    let (min, _) = best[0].expect("the initial state is live");
    let mut trace = Vec::new();
    let mut u = 0usize;
    while let Some((_, Some(e))) = best[u] {
        trace.push(g.action[e]);
        u = g.to[e] as usize;
    }
    (min, trace)
}

/// Minimum over any graph: Dijkstra from the initial state.
fn minimum_dijkstra<A: Copy>(
    g: &Graph<A>,
    n: usize,
    w: &[u32],
    fw: &dyn Fn(u32) -> Option<u64>,
) -> (u64, Vec<A>) {
    let mut dist = vec![u64::MAX; n];
    let mut prev = vec![usize::MAX; n];
    let mut done = vec![false; n];
    let mut heap = BinaryHeap::from([Reverse((0u64, 0u32))]);
    dist[0] = 0;
    let mut best: Option<(u64, u32)> = None;
    while let Some(Reverse((d, u))) = heap.pop() {
        if done[u as usize] {
            continue;
        }
        done[u as usize] = true;
        if let Some(f) = fw(u)
            && best.is_none_or(|(b, _)| d + f < b)
        {
            best = Some((d + f, u));
        }
        for e in g.out(u as usize) {
            let v = g.to[e] as usize;
            let nd = d + w[e] as u64;
            if nd < dist[v] {
                dist[v] = nd;
                prev[v] = e;
                heap.push(Reverse((nd, v as u32)));
            }
        }
    }
    let (min, mut u) = best.expect("the initial state is live");
    let mut trace = Vec::new();
    while u != 0 {
        let e = prev[u as usize];
        trace.push(g.action[e]);
        u = source(g, e);
    }
    trace.reverse();
    (min, trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy graph: states 0..n, `edges` (from, to, weight), weight 0 of
    /// each state `finals` lists as final.
    struct Toy {
        edges: Vec<(u8, u8, u32)>,
        finals: Vec<u8>,
    }

    impl Model for Toy {
        type State = u8;
        type Action = u8;
        type Violation = ();
        fn initial(&self) -> u8 {
            0
        }
        fn candidates(&self, s: &u8, out: &mut Vec<u8>) {
            for (i, e) in self.edges.iter().enumerate() {
                if e.0 == *s {
                    out.push(i as u8);
                }
            }
        }
        fn step(&self, _: &u8, a: u8) -> Option<Transition<u8, ()>> {
            Some(Transition::Next(self.edges[a as usize].1))
        }
        fn is_progress(&self, _: u8) -> bool {
            true
        }
        fn check_state(&self, s: &u8, progress: bool) -> Option<()> {
            (!progress && !self.finals.contains(s)).then_some(())
        }
    }

    fn run(t: &Toy) -> Extremes<u8> {
        extremes(
            t,
            1,
            |_, a| vec![(0, t.edges[a as usize].2)],
            |_| Vec::new(),
            100,
            &|| false,
        )
        .expect("small")
    }

    #[test]
    fn a_dag_gives_its_shortest_and_longest_paths() {
        // 0 -1-> 1 -5-> 3, 0 -2-> 2 -1-> 3, 2 -0-> 4 (a dead end: 4 is
        // not final, so no complete execution ends there).
        let t = Toy {
            edges: vec![(0, 1, 1), (1, 3, 5), (0, 2, 2), (2, 3, 1), (2, 4, 0)],
            finals: vec![3],
        };
        let ex = run(&t);
        assert!(!ex.cyclic);
        let d = ex.dims[0].as_ref().expect("a complete execution");
        assert_eq!((d.min, d.max), (3, Some(6)));
        assert_eq!(d.min_trace, vec![2, 3]);
        assert_eq!(d.max_trace, vec![0, 1]);
    }

    #[test]
    fn a_positive_cycle_on_the_way_is_unbounded_and_a_zero_one_is_not() {
        // 0 -> 1 -> 2 (final), with 1 <-> 5 a cycle.
        let cycle = |w: u32| Toy {
            edges: vec![(0, 1, 1), (1, 5, w), (5, 1, 0), (1, 2, 1)],
            finals: vec![2],
        };
        let ex = run(&cycle(3));
        assert!(ex.cyclic);
        let d = ex.dims[0].as_ref().expect("complete");
        assert_eq!((d.min, d.max), (2, None));
        assert_eq!(d.min_trace, vec![0, 3]);
        let ex = run(&cycle(0));
        let d = ex.dims[0].as_ref().expect("complete");
        assert_eq!((d.min, d.max), (2, Some(2)));
        // The maximum's trace may go round the weight-0 cycle or not; it
        // ends at the final state with the maximum weight.
        let w: u32 = d
            .max_trace
            .iter()
            .map(|&a| cycle(0).edges[a as usize].2)
            .sum();
        assert_eq!(w, 2);
    }

    #[test]
    fn no_final_state_means_no_complete_execution() {
        let t = Toy {
            edges: vec![(0, 1, 1)],
            finals: vec![],
        };
        assert_eq!(run(&t).dims[0], None);
    }
}
