//! The `ox` push-notification driver.
