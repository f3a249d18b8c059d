//! `catsdogs cache`: the caches beside a split. `cache DIR` decodes a folder's images into its
//! cache as `flow_from_directory` does; `cache list` prints the feature files (the frozen
//! layers' outputs that training keeps on disk) and `cache remove` removes them, only ever
//! files that catsdogs wrote as feature files (their naming and header).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Subcommand;

use catsdogs::console::human_bytes;
use catsdogs::data::{self, ImageDataGenerator, Preprocess};
use catsdogs::display::Table;
use catsdogs::features::{self, FeatureFile};

/// `catsdogs cache DIR`, or one of its subcommands.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CacheArgs {
    #[command(subcommand)]
    command: Option<CacheCommand>,
    /// A folder of class folders, e.g. data/train: its images are decoded into its cache and
    /// the cache key is printed.
    #[arg(required = true)]
    dir: Option<PathBuf>,
    /// HEIGHTxWIDTH of the cached images.
    #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
    target_size: (u32, u32),
    /// Cache folder (default: DIR/../.catsdogs-cache/NAME, beside DIR).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// What `catsdogs cache` does with the feature files.
#[derive(Subcommand)]
enum CacheCommand {
    /// Print the feature files in DIR and the folders below it (six levels down; default: the
    /// current folder): key, layer, images, size, last use and file, the one used longest ago
    /// first, and their total.
    List {
        /// A split, its .catsdogs-cache folder, a --cache-dir, or a folder above them.
        dir: Option<PathBuf>,
    },
    /// Remove feature files in DIR and the folders below it (default: the current folder):
    /// those of the keys given, or all of them with --all. Nothing but feature files that
    /// catsdogs wrote is removed; training computes removed features again when it needs them.
    Remove {
        /// [DIR] KEY...: the folder to look in (when the first argument is a folder), then the
        /// keys, each its first 8 characters or more, as `cache list` prints them.
        args: Vec<String>,
        /// Remove every feature file found.
        #[arg(long)]
        all: bool,
    },
}

/// Runs `catsdogs cache`.
pub fn run(args: CacheArgs) -> anyhow::Result<()> {
    match (args.command, args.dir) {
        (Some(CacheCommand::List { dir }), _) => list(&dir.unwrap_or_else(|| ".".into())),
        (Some(CacheCommand::Remove { args, all }), _) => remove(args, all),
        (None, Some(dir)) => {
            let (height, width) = args.target_size;
            let mut options = data::FlowOptions::default().target_size(height, width);
            options.cache_dir = args.cache_dir;
            let flow =
                ImageDataGenerator::new(Preprocess::None).flow_from_directory(&dir, options)?;
            let path = flow.cache_path().unwrap_or(&dir);
            out!("{} {}", flow.cache_key(), path.display());
            Ok(())
        }
        (None, None) => anyhow::bail!("say which folder's images to cache: catsdogs cache DIR"),
    }
}

/// Prints the feature files under `dir` and their total.
fn list(dir: &Path) -> anyhow::Result<()> {
    check_folder(dir)?;
    let files = features::feature_files(dir);
    if files.is_empty() {
        out!("No feature files in {} or below it.", dir.display());
        return Ok(());
    }
    let now = SystemTime::now();
    let mut table = Table::new(["key", "layer", "images", "size", "last use", "file"]);
    for f in &files {
        table.push_row([
            f.key[..12].to_string(),
            f.layer.clone().unwrap_or_else(|| "(older version)".into()),
            f.images.map_or_else(String::new, |n| n.to_string()),
            human_bytes(f.bytes),
            age(now, f.last_used),
            f.path.display().to_string(),
        ]);
    }
    out!("{}", table.to_string().trim_end());
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    out!(
        "{} feature file{}, {}.",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        human_bytes(bytes)
    );
    Ok(())
}

/// Removes the feature files that `args` (`[DIR] KEY...`) or `all` name.
fn remove(mut args: Vec<String>, all: bool) -> anyhow::Result<()> {
    let dir = match args.first() {
        Some(first) if Path::new(first).is_dir() => PathBuf::from(args.remove(0)),
        _ => PathBuf::from("."),
    };
    check_folder(&dir)?;
    let files = features::feature_files(&dir);
    let chosen: Vec<&FeatureFile> = match (all, args.is_empty()) {
        (true, true) => files.iter().collect(),
        (true, false) => anyhow::bail!("give either --all or keys, not both"),
        (false, true) => anyhow::bail!(
            "say which feature files to remove: their keys (catsdogs cache list {} prints \
             them), or --all",
            dir.display()
        ),
        (false, false) => chosen_by_key(&files, &args, &dir)?,
    };
    let mut freed = 0;
    for file in &chosen {
        features::remove(file)?;
        freed += file.bytes;
        out!(
            "Removed {} ({}).",
            file.path.display(),
            human_bytes(file.bytes)
        );
    }
    out!(
        "Removed {} feature file{}, {}.",
        chosen.len(),
        if chosen.len() == 1 { "" } else { "s" },
        human_bytes(freed)
    );
    Ok(())
}

/// The files whose keys start with one of `keys`; every key must name at least one.
fn chosen_by_key<'a>(
    files: &'a [FeatureFile],
    keys: &[String],
    dir: &Path,
) -> anyhow::Result<Vec<&'a FeatureFile>> {
    for key in keys {
        if key.len() < 8 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            anyhow::bail!(
                "{key:?} is not a feature key: give 8 or more of its hex digits, as `catsdogs \
                 cache list` prints them"
            );
        }
        if !files.iter().any(|f| f.key.starts_with(key.as_str())) {
            anyhow::bail!(
                "no feature file with key {key} in {} or below it: `catsdogs cache list {}` \
                 prints the keys",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(files
        .iter()
        .filter(|f| keys.iter().any(|k| f.key.starts_with(k.as_str())))
        .collect())
}

fn check_folder(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder: give a split or a cache folder",
            dir.display()
        );
    }
    Ok(())
}

/// How long ago `then` was, in the largest whole unit: `just now`, `5 min ago`, `3 h ago`,
/// `2 days ago`.
fn age(now: SystemTime, then: SystemTime) -> String {
    let seconds = now.duration_since(then).map_or(0, |d| d.as_secs());
    match seconds {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86400),
    }
}
