//! `catsdogs cache list` and `remove`: the features that `catsdogs train` keeps on disk, found by
//! a second run with other head settings, listed, and removed (only ever ours).

mod cli;

use cli::{path, train_args};

fn catsdogs(args: &[&str]) -> String {
    cli::ok(&cli::catsdogs(args))
}

#[test]
fn a_second_run_finds_the_features_and_cache_lists_and_removes_only_ours() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = cli::sample_split(dir.path(), 30, [40, 10, 10]);
    let first = catsdogs(&train_args(&data, &dir.path().join("runs/first")));
    let caches = data.join(".catsdogs-cache");
    for (folder, images) in [("train", 40), ("validation", 10)] {
        let line = format!(
            "Caching the block5_pool outputs of {images} images of {} ",
            data.join(folder).display()
        );
        assert!(first.contains(&line), "{first}");
    }

    // Another process with another learning rate finds them.
    let run = dir.path().join("runs/second");
    let second = [&train_args(&data, &run)[..], &["--lr", "1e-3"]].concat();
    let second = catsdogs(&second);
    assert!(!second.contains("Caching the"), "{second}");
    for (folder, images) in [("train", 40), ("validation", 10)] {
        let line = format!(
            "Using the block5_pool outputs of {images} images cached in {}",
            caches.join(folder).display()
        );
        assert!(second.contains(&line), "{second}");
    }

    // Listed from the split, from its cache folder, or from above; one file a line, then the
    // total.
    let decoy = caches
        .join("train")
        .join(format!("features-{}.bin", "ab".repeat(32)));
    std::fs::write(&decoy, b"of our naming, but not a feature file").unwrap();
    for from in [&data, &caches, &dir.path().to_path_buf()] {
        let listed = catsdogs(&["cache", "list", path(from)]);
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 5, "{listed}");
        assert!(lines[0].starts_with("key "), "{listed}");
        assert!(lines[1].starts_with("------------  "), "{listed}");
        for line in &lines[2..4] {
            assert!(line.contains("  block5_pool  "), "{listed}");
            assert!(line.contains("just now"), "{listed}");
        }
        assert!(lines[4].starts_with("2 feature files, "), "{listed}");
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let none = catsdogs(&["cache", "list", path(&empty)]);
    assert_eq!(
        none,
        format!("No feature files in {} or below it.\n", empty.display())
    );

    // Removed by key (its first 8 hex digits or more), or all of them; never anything else.
    let listed = catsdogs(&["cache", "list", path(&data)]);
    let key = &listed.lines().nth(2).unwrap()[..12];
    let refused = cli::refused(&cli::catsdogs(&[
        "cache",
        "remove",
        path(&data),
        "deadbeef",
    ]));
    assert!(
        refused.contains("no feature file with key deadbeef"),
        "{refused}"
    );
    let refused = cli::refused(&cli::catsdogs(&["cache", "remove", path(&data)]));
    assert!(refused.contains("or --all"), "{refused}");
    let removed = catsdogs(&["cache", "remove", path(&data), key]);
    assert!(removed.contains("Removed 1 feature file, "), "{removed}");
    let removed = catsdogs(&["cache", "remove", path(&data), "--all"]);
    assert!(removed.contains("Removed 1 feature file, "), "{removed}");
    assert!(decoy.is_file());
    assert!(catsdogs(&["cache", "list", path(&data)]).starts_with("No feature files"));

    // The decoded images stay, and `cache DIR` still decodes a folder into its cache.
    let cached = catsdogs(&["cache", path(&data.join("test")), "--target-size", "8x8"]);
    assert!(cached.contains(".catsdogs-cache"), "{cached}");
}
