//! What objfreeze knows about CPython: `.pyc` headers and magic numbers,
//! module-name rules. The core (format, objects) knows nothing of this.

pub mod names;
pub mod pyc;
