//! The `tally` binary: parse the command line, read settings, run the library.
use clap::Parser;
use std::process::ExitCode;
use tally::{Cli, Settings, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let log_format = settings.log_format;
    tally::telemetry::init(log_format, &tally::cli::log_filter(&cli, &settings));
    match run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tally::cli::print_error(&e, log_format);
            ExitCode::FAILURE
        }
    }
}
