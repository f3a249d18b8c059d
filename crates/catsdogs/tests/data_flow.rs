//! `flow_from_directory`: Keras's listing rules, batches from the decode-once cache equal to
//! the slow path (`load_img` + `img_to_array` + `preprocess_input` per file), seeded epochs,
//! the cache's reuse and invalidation, and errors on bad folders and images.

use std::path::{Path, PathBuf};

use catsdogs::data::{
    img_to_array, list_images, load_img, preprocess_input, sample, split, DirectoryIterator,
    FlowOptions, ImageDataGenerator, Preprocess, SampleOptions, SplitOptions,
};
use catsdogs::Error;
use tch::{Device, Kind, Tensor};

/// A split of the synthetic sample: train 40, validation 10, test 10.
fn sample_split(dir: &Path) -> PathBuf {
    let zip = dir.join("train.zip");
    let options = SampleOptions {
        per_class: 30,
        ..SampleOptions::default()
    };
    sample(&zip, &options).unwrap();
    let out = dir.join("data");
    split(&zip, &out, &SplitOptions::sizes(40, 10, 10)).unwrap();
    out
}

fn flow(dir: &Path, options: FlowOptions, mode: Preprocess) -> DirectoryIterator {
    ImageDataGenerator::new(mode)
        .flow_from_directory(dir, options)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn values(t: &Tensor) -> Vec<f32> {
    let t = t.to_kind(Kind::Float).flatten(0, -1);
    let mut v = vec![0f32; t.numel()];
    t.copy_data(&mut v, t.numel());
    v
}

#[test]
fn batches_equal_the_slow_path_and_epochs_are_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let train_dir = sample_split(dir.path()).join("train");
    let options = FlowOptions::default()
        .target_size(64, 48)
        .batch_size(16)
        .seed(5);
    let train = flow(&train_dir, options.clone(), Preprocess::Vgg16);
    assert_eq!(train.samples(), 40);
    assert_eq!(train.len(), 3);
    assert_eq!(train.batch_size(), 16);
    assert_eq!(train.class_indices.get("dogs"), Some(&1));
    assert_eq!(train.classes.iter().filter(|&&c| c == 1).count(), 20);
    assert_eq!(train.cache_key().len(), 64);

    // Epoch orders: permutations, new each epoch, the same for the same seed and epoch.
    let order = train.epoch_order(0);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..40).collect::<Vec<_>>());
    assert_ne!(order, train.epoch_order(1));
    assert_ne!(order, (0..40).collect::<Vec<_>>());
    let again = flow(&train_dir, options.clone(), Preprocess::Vgg16);
    assert_eq!(again.epoch_order(1), train.epoch_order(1));
    let other_seed = flow(&train_dir, options.clone().seed(6), Preprocess::Vgg16);
    assert_ne!(other_seed.epoch_order(0), order);
    let unshuffled = flow(
        &train_dir,
        options.clone().shuffle(false),
        Preprocess::Vgg16,
    );
    assert_eq!(unshuffled.epoch_order(3), (0..40).collect::<Vec<_>>());

    // An epoch: 16 + 16 + 8 images in epoch order, each equal to the slow path.
    let batches: Vec<_> = train.epoch(0, Device::Cpu).map(|b| b.unwrap()).collect();
    assert_eq!(
        batches.iter().map(|b| b.indices.len()).collect::<Vec<_>>(),
        [16, 16, 8]
    );
    let visited: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(visited, order);
    let last = &batches[2];
    assert_eq!(last.x.size(), [8, 3, 64, 48]);
    assert_eq!(last.x.kind(), Kind::Float);
    assert_eq!(last.y.size(), [8]);
    let got = values(&last.x);
    let labels = values(&last.y);
    for (k, &i) in last.indices.iter().enumerate() {
        let img = load_img(&train_dir.join(&train.filenames[i]), Some((64, 48))).unwrap();
        let x = preprocess_input(img_to_array(&img), Preprocess::Vgg16);
        let chw = x.permuted_axes([2, 0, 1]);
        let expected: Vec<u32> = chw.iter().map(|v| v.to_bits()).collect();
        let image = &got[k * 3 * 64 * 48..(k + 1) * 3 * 64 * 48];
        assert_eq!(
            image.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            expected,
            "{}",
            train.filenames[i]
        );
        assert_eq!(labels[k], train.classes[i] as f32);
    }
    // batch() gives the same tensors as the prefetching epoch, and so does a second flow.
    let direct = again.batch(&last.indices, Device::Cpu).unwrap();
    assert!(direct.x.equal(&last.x) && direct.y.equal(&last.y));

    // images_u8 holds the cached pixels, NHWC.
    let u8s = train.images_u8(&[3, 0]);
    assert_eq!(u8s.size(), [2, 64, 48, 3]);
    let img = load_img(&train_dir.join(&train.filenames[3]), Some((64, 48))).unwrap();
    let first: Vec<f32> = values(&u8s)[..64 * 48 * 3].to_vec();
    assert_eq!(
        first,
        img.as_raw()
            .iter()
            .map(|&v| f32::from(v))
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        train.f_images_u8(&[40]),
        Err(Error::Index {
            index: 40,
            samples: 40
        })
    ));
}

#[test]
fn the_cache_is_decoded_once_and_follows_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let val_dir = sample_split(dir.path()).join("validation");
    let options = FlowOptions::default().target_size(32, 32);
    let first = flow(&val_dir, options.clone(), Preprocess::None);
    let cache = first.cache_path().unwrap().to_path_buf();
    assert!(cache.starts_with(dir.path().join("data/.catsdogs-cache/validation")));
    // Beside the class folders, not among them: Keras would take it for a class.
    assert!(!val_dir.join(".catsdogs-cache").exists());
    let stamp = std::fs::metadata(&cache).unwrap().modified().unwrap();

    // Same files: the same cache file is mapped, not rewritten.
    let second = flow(&val_dir, options.clone(), Preprocess::None);
    assert_eq!(second.cache_key(), first.cache_key());
    assert_eq!(
        std::fs::metadata(&cache).unwrap().modified().unwrap(),
        stamp
    );
    // Touched but unchanged content keeps the key.
    let some_file = val_dir.join(&first.filenames[0]);
    let bytes = std::fs::read(&some_file).unwrap();
    std::fs::write(&some_file, &bytes).unwrap();
    assert_eq!(
        flow(&val_dir, options.clone(), Preprocess::None).cache_key(),
        first.cache_key()
    );

    // Changed content: a new key, the old images file removed, the new pixels served.
    std::fs::copy(val_dir.join(&first.filenames[1]), &some_file).unwrap();
    let changed = flow(&val_dir, options.clone(), Preprocess::None);
    assert_ne!(changed.cache_key(), first.cache_key());
    assert!(!cache.exists());
    assert!(changed.images_u8(&[0]).equal(&changed.images_u8(&[1])));

    // A cache file damaged in place, at the same size, is noticed and decoded again.
    let pixels = changed.images_u8(&[0, 1, 2]);
    let path = changed.cache_path().unwrap().to_path_buf();
    drop(changed);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let rebuilt = flow(&val_dir, options.clone(), Preprocess::None);
    assert!(rebuilt.images_u8(&[0, 1, 2]).equal(&pixels));
    assert_ne!(std::fs::read(&path).unwrap(), bytes);

    // Another target size is another cache, and the cache folder can be chosen.
    let elsewhere = dir.path().join("cache");
    let other = flow(
        &val_dir,
        options.clone().target_size(16, 16).cache_dir(&elsewhere),
        Preprocess::None,
    );
    assert!(other.cache_path().unwrap().starts_with(&elsewhere));
    assert_ne!(other.cache_key(), rebuilt.cache_key());
    // The hidden cache folder never becomes a class.
    assert_eq!(other.class_indices.len(), 2);
}

#[test]
fn listing_follows_keras_rules() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "cats/cat.1.jpg",
        "cats/cat.10.jpg",
        "cats/cat.2.jpg",
        "cats/Z.PNG",
        "cats/notes.txt",
        "cats/sub/cat.0.tiff",
        "cats/sub dir/a.bmp",
        "cats/sub/deeper/c.jpg",
        "cats/.hidden/cat.5.jpg",
        "dogs/dog.1.jpeg",
        "dogs/dog.2.gif",
        ".ipynb_checkpoints/cat.3.jpg",
        "birds/deep/deeper/b.ppm",
    ];
    for f in files {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }
    let list = list_images(dir.path()).unwrap();
    assert_eq!(
        list.class_indices.keys().collect::<Vec<_>>(),
        ["birds", "cats", "dogs"]
    );
    assert_eq!(
        list.filenames,
        [
            "birds/deep/deeper/b.ppm",
            "cats/Z.PNG",
            "cats/cat.1.jpg",
            "cats/cat.10.jpg",
            "cats/cat.2.jpg",
            // Folders in the string order of their paths, as Keras sorts os.walk: "sub" <
            // "sub dir" < "sub/deeper", since ' ' sorts before '/'.
            "cats/sub/cat.0.tiff",
            "cats/sub dir/a.bmp",
            "cats/sub/deeper/c.jpg",
            "dogs/dog.1.jpeg",
        ]
    );
    assert_eq!(list.classes, [0, 1, 1, 1, 1, 1, 1, 1, 2]);
    let json = list.to_json();
    assert_eq!(json["class_indices"]["dogs"], 2);
    assert_eq!(json["files"][8]["file"], "dogs/dog.1.jpeg");
    assert_eq!(json["files"][8]["class"], 2);
}

#[test]
fn bad_folders_and_images_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
    let missing = dir.path().join("validation");
    let err = datagen
        .flow_from_directory(&missing, FlowOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not exist: split the data first (`catsdogs split`, or notebook 00-prepare-data), or check \
             the path",
            missing.display()
        )
    );

    std::fs::create_dir_all(dir.path().join("flat")).unwrap();
    std::fs::write(dir.path().join("flat/cat.1.jpg"), b"").unwrap();
    let err = datagen
        .flow_from_directory(dir.path().join("flat"), FlowOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::NoClasses { .. }), "{err}");

    let data = sample_split(dir.path());
    std::fs::create_dir_all(data.join("test/birds")).unwrap();
    let err = datagen
        .flow_from_directory(data.join("test"), FlowOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "class folder {} holds no images (png, jpg, jpeg, bmp, ppm, tif or tiff): add images or remove the folder",
            data.join("test/birds").display()
        )
    );
    std::fs::remove_dir(data.join("test/birds")).unwrap();

    let broken = data.join("test/cats/cat.999.jpg");
    std::fs::write(&broken, b"not a jpeg").unwrap();
    let err = datagen
        .flow_from_directory(data.join("test"), FlowOptions::default())
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{} is not an image", broken.display())),
        "{err}"
    );
    // Nothing half-written is left in the cache folder.
    let leftovers: Vec<_> = std::fs::read_dir(data.join(".catsdogs-cache/test"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let err = datagen
        .flow_from_directory(data.join("train"), FlowOptions::default().batch_size(0))
        .unwrap_err();
    assert!(err.to_string().contains("batch size 0"), "{err}");
}
