//! Human descriptions of steps (filled below).
