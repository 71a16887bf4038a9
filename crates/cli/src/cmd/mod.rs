//! One module per subcommand.

pub mod cv;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod gradcheck;
pub mod playground;
pub mod plot;
pub mod predict;
pub mod regression;
pub mod serve;
pub mod summary;
pub mod train;
pub mod tune;
