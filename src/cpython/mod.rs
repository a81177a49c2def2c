//! What objfreeze knows about CPython: `.pyc` headers and magic numbers,
//! module-name rules, the standard library, compiling sources with an
//! interpreter. The core (format, objects) knows nothing of this.

pub mod compile;
pub mod deep;
pub mod frontend;
pub mod lang;
pub mod marshal;
pub mod names;
pub mod pyc;
pub mod site;
pub mod stdlib;
