//! A batch too large for memory ends `fit` with a message that says to lower the batch size,
//! not with a panic. The test caps the process's address space (so it is alone in its test
//! binary) a little above what it already uses, then trains on 256x256 images in a batch whose
//! first activation alone needs a gigabyte.

use catsdogs::applications::Backbone;
use catsdogs::data::{
    sample, split, FlowOptions, ImageDataGenerator, Preprocess, SampleOptions, SplitOptions,
};
use catsdogs::experiments::Experiment;
use catsdogs::losses::Loss;
use catsdogs::optimizers::RMSprop;
use catsdogs::precision::Precision;
use catsdogs::train::FitOptions;
use tch::{Device, Kind, Tensor};

/// The process's virtual memory size in bytes, from /proc.
fn virtual_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[test]
fn a_batch_too_large_for_memory_says_to_lower_the_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    sample(
        &zip,
        &SampleOptions {
            per_class: 20,
            ..Default::default()
        },
    )
    .unwrap();
    let data = dir.path().join("data");
    split(&zip, &data, &SplitOptions::sizes(32, 4, 4)).unwrap();
    let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
    let options = FlowOptions::default().target_size(256, 256).batch_size(32);
    let train = datagen
        .flow_from_directory(data.join("train"), options.clone())
        .unwrap();
    let validation = datagen
        .flow_from_directory(data.join("validation"), options)
        .unwrap();
    tch::manual_seed(0);
    let base = Backbone::Vgg16
        .application(false)
        .input_size(256, 256)
        .build(Device::Cpu)
        .unwrap();
    let mut model = Experiment::Frozen.model(base).unwrap();
    model.compile(RMSprop::new(2e-5), Loss::BinaryCrossentropy);
    model.set_precision(Precision::Fp32);
    // Start libtorch's thread pool before the cap, so that only tensors can hit it.
    let warm = Tensor::ones([1, 3, 64, 64], (Kind::Float, Device::Cpu));
    let _ = model.forward_range(&warm, 0..2, false).unwrap();

    // 32 images of 64 channels at 256x256 in float32 is 537 MB for block1_conv1's output.
    let limit = virtual_memory() + (400 << 20);
    let cap = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct; it only lowers this process's soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &cap) }, 0);
    let result = model.fit_with(&train, 1, &validation, FitOptions::default().cache(false));
    let uncapped = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: as above, restoring the soft limit to the hard one.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &uncapped) };

    let message = result.unwrap_err().to_string();
    assert!(
        message.starts_with(
            "out of memory on the CPU at epoch 1/1, step 1/1 with batches of 32 images: lower \
             the batch size (--batch-size, or batch_size), for example to 16; libtorch said: \
             can't allocate memory: you tried to allocate 536870912 bytes."
        ),
        "{message}"
    );
}
