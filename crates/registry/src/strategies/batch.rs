//! The `batch` group.

mod cron;
pub mod cronjobs;
pub mod jobs;
