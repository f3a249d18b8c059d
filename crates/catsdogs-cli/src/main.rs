//! `catsdogs`: the command-line front end. A thin layer over the crate's functions: each
//! subcommand parses its arguments, calls the crate, and prints or writes the result.
//! Errors end the program with one sentence on stderr and exit status 1, never a panic.
//!
//! Results go to stdout through [`out!`]: when the reader goes away (`catsdogs flow DIR | head
//! -1`) the program stops quietly, as a Unix tool does, after the work is done; the crate's own
//! messages meanwhile just stop showing.

use std::io::Write;

use clap::{Parser, Subcommand};

/// `println!` for results: a reader that went away ends the program quietly (status 0).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

mod augment;
mod bench;
mod cache;
mod data;
mod explain;
mod imagenet;
mod model;
mod train;

#[derive(Parser)]
#[command(
    name = "catsdogs",
    version,
    about = "Cats vs dogs transfer learning with VGG16 and libtorch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the compute device that libtorch sees, and the precision `auto` picks there.
    Device,
    /// Augment one image as Keras's ImageDataGenerator does: a given transform (Keras's
    /// apply_transform parameters) written as a float32 .npy, or random ones shown as a grid.
    Augment(augment::AugmentArgs),
    /// Time one piece of work (decode, forward, Grad-CAM, epoch) and print it as a JSON line, for
    /// environment/bench.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    #[command(flatten)]
    Data(data::DataCommand),
    /// Grad-CAM: write each image with a heatmap of where the network looked for its answer
    /// (a trained run's dog probability, or VGG16's top ImageNet class), and print the answer.
    Explain(explain::ExplainArgs),
    #[command(flatten)]
    Imagenet(imagenet::ImagenetCommand),
    #[command(flatten)]
    Model(model::ModelCommand),
    #[command(flatten)]
    Train(train::TrainCommand),
}

/// Writes one line of results on stdout; see [`out!`].
fn write_out(args: std::fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{args}").and_then(|()| stdout.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(std::io::stderr(), "error: cannot write the results: {e}");
        std::process::exit(1);
    }
}

/// The error and its causes, each cause once: a cause whose words the message already holds
/// (as the crate's errors hold the operating system's reason) is not repeated.
fn sentence(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Device => {
            out!("{}", catsdogs::device::describe());
            let auto = catsdogs::precision::describe_auto(catsdogs::device());
            out!("auto precision: {auto}");
            Ok(())
        }
        Command::Augment(args) => augment::run(args),
        Command::Bench(command) => bench::run(command),
        Command::Data(command) => data::run(command),
        Command::Explain(args) => explain::run(args),
        Command::Imagenet(command) => imagenet::run(command),
        Command::Model(command) => model::run(command),
        Command::Train(command) => train::run(command),
    };
    if let Err(error) = result {
        let _ = writeln!(std::io::stderr(), "error: {}", sentence(&error));
        std::process::exit(1);
    }
}
