//! `catsdogs`: the command-line front end. A thin layer over the crate's functions: each
//! subcommand parses its arguments, calls the crate, and prints or writes the result.
//! Errors end the program with one sentence on stderr and exit status 1, never a panic.

use clap::{Parser, Subcommand};

mod bench;
mod data;
mod imagenet;
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
    /// Print the compute device that libtorch sees.
    Device,
    /// Time one piece of work (decode, forward, epoch) and print it as a JSON line, for
    /// environment/bench.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    #[command(flatten)]
    Data(data::DataCommand),
    #[command(flatten)]
    Imagenet(imagenet::ImagenetCommand),
    #[command(flatten)]
    Train(train::TrainCommand),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Device => {
            println!("{}", catsdogs::device::describe());
            Ok(())
        }
        Command::Bench(command) => bench::run(command),
        Command::Data(command) => data::run(command),
        Command::Imagenet(command) => imagenet::run(command),
        Command::Train(command) => train::run(command),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
