//! SQL text: splitting a script into statements, and the statements haven-migrate refuses
//! to run.

pub mod forbidden;
pub mod split;
