//! What each kind of layer computes on a batch, with libtorch: convolutions with Keras's and
//! PyTorch's paddings, batch normalisation in inference and in training mode, poolings,
//! activations and sums. Inputs are NCHW, or (batch, features) once flat.

use tch::{Kind, Tensor};

use super::{Layer, LayerKind, Window};
use crate::error::Result;
use crate::precision::Compute;

/// A convolution of `x` by `kernel` (OIHW; `groups` channel groups) over `window`. Symmetric
/// padding goes to the convolution itself (VGG's call, unchanged); TensorFlow's uneven 'same'
/// padding (stride 2) pads the map with zeros first.
fn convolve(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    window: &Window,
    groups: i64,
) -> Result<Tensor> {
    let size = x.size();
    let (k, s) = (window.kernel_size, window.strides);
    let (top, bottom) = window.padding.pads(size[2], k, s);
    let (left, right) = window.padding.pads(size[3], k, s);
    Ok(if top == bottom && left == right {
        x.f_conv2d(kernel, bias, [s, s], [top, left], [1, 1], groups)?
    } else {
        x.f_constant_pad_nd([left, right, top, bottom])?.f_conv2d(
            kernel,
            bias,
            [s, s],
            [0, 0],
            [1, 1],
            groups,
        )?
    })
}

/// The weights of a convolution: the kernel and the bias if the window has one, as `compute`
/// takes them.
fn kernel_and_bias(weights: &[Tensor], compute: Compute) -> Result<(Tensor, Option<Tensor>)> {
    let kernel = compute.prepare(&weights[0])?;
    let bias = weights.get(1).map(|b| compute.prepare(b)).transpose()?;
    Ok((kernel, bias))
}

/// Batch normalisation over axis 1. With `batch_statistics` it normalises with the batch's
/// mean and (biased) variance, as Keras does in training, and moves the moving statistics
/// toward them by `1 - momentum`; otherwise with the moving statistics.
fn batch_norm(
    x: &Tensor,
    weights: &[Tensor],
    (epsilon, momentum): (f64, f64),
    batch_statistics: bool,
    compute: Compute,
) -> Result<Tensor> {
    let [gamma, beta, mean, variance] = weights else {
        unreachable!("Layer::with_weights checks the number of weights");
    };
    let x = compute.prepare(x)?;
    // cuDNN and oneDNN take reduced-precision inputs with float32 parameters.
    if !batch_statistics {
        return Ok(x.f_batch_norm(
            Some(gamma),
            Some(beta),
            Some(mean),
            Some(variance),
            false,
            0.0,
            epsilon,
            true,
        )?);
    }
    let y = x.f_batch_norm(
        Some(gamma),
        Some(beta),
        None::<&Tensor>,
        None::<&Tensor>,
        true,
        0.0,
        epsilon,
        true,
    )?;
    let _guard = tch::no_grad_guard();
    let axes: Vec<i64> = (0..x.dim() as i64).filter(|&axis| axis != 1).collect();
    let (batch_variance, batch_mean) = x
        .f_detach()?
        .f_to_kind(Kind::Float)?
        .f_var_mean_correction(axes.as_slice(), 0, false)?;
    for (moving, batch) in [(mean, batch_mean), (variance, batch_variance)] {
        let moved = (moving * momentum) + (batch * (1.0 - momentum));
        moving.shallow_clone().f_copy_(&moved)?;
    }
    Ok(y)
}

impl Layer {
    /// Runs the layer on its inputs (one, or several for `Add`), computed as `compute` says.
    /// `train` turns dropout on, and batch statistics for a trainable batch normalisation. An
    /// input of the wrong shape is an error naming the layer and both shapes.
    pub(super) fn run(&self, inputs: &[&Tensor], train: bool, compute: Compute) -> Result<Tensor> {
        let x = inputs[0];
        let size = x.size();
        let maps = |channels: i64| size.len() == 4 && size[1] == channels;
        let weights = self.weights();
        match self.kind() {
            LayerKind::Conv2d {
                in_channels,
                activation,
                window,
                ..
            } => {
                if !maps(*in_channels) {
                    return Err(
                        self.input_error(format!("NCHW input with {in_channels} channels"), &size)
                    );
                }
                let (kernel, bias) = kernel_and_bias(weights, compute)?;
                let y = convolve(&compute.prepare(x)?, &kernel, bias.as_ref(), window, 1)?;
                activation.apply(y)
            }
            LayerKind::DepthwiseConv2d { channels, window } => {
                if !maps(*channels) {
                    return Err(
                        self.input_error(format!("NCHW input with {channels} channels"), &size)
                    );
                }
                let (kernel, bias) = kernel_and_bias(weights, compute)?;
                convolve(
                    &compute.prepare(x)?,
                    &kernel,
                    bias.as_ref(),
                    window,
                    *channels,
                )
            }
            LayerKind::BatchNorm {
                channels,
                epsilon,
                momentum,
            } => {
                if size.len() < 2 || size[1] != *channels {
                    return Err(self.input_error(format!("input with {channels} channels"), &size));
                }
                let batch_statistics = train && self.trainable();
                batch_norm(x, weights, (*epsilon, *momentum), batch_statistics, compute)
            }
            LayerKind::ZeroPadding2d {
                padding: [top, bottom, left, right],
            } => {
                if size.len() != 4 {
                    return Err(self.input_error("NCHW input".into(), &size));
                }
                Ok(x.f_constant_pad_nd([*left, *right, *top, *bottom])?)
            }
            LayerKind::MaxPool2d => {
                if size.len() != 4 || size[2] < 2 || size[3] < 2 {
                    return Err(self.input_error("NCHW input of at least 2x2".into(), &size));
                }
                Ok(x.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?)
            }
            LayerKind::MaxPool2dWith {
                pool_size: k,
                strides: s,
            } => {
                if size.len() != 4 || size[2] < *k || size[3] < *k {
                    return Err(self.input_error(format!("NCHW input of at least {k}x{k}"), &size));
                }
                Ok(x.f_max_pool2d([*k, *k], [*s, *s], [0, 0], [1, 1], false)?)
            }
            LayerKind::GlobalAveragePooling2d | LayerKind::GlobalMaxPooling2d => {
                if size.len() != 4 {
                    return Err(self.input_error("NCHW input".into(), &size));
                }
                Ok(match self.kind() {
                    LayerKind::GlobalMaxPooling2d => x.f_amax([2, 3], false)?,
                    _ => x.f_mean_dim([2i64, 3].as_slice(), false, None::<Kind>)?,
                })
            }
            LayerKind::Activation { activation } => activation.apply(x.shallow_clone()),
            LayerKind::Relu6 => Ok(x.f_clamp(0.0, 6.0)?),
            LayerKind::Add => {
                if inputs.iter().any(|input| input.size() != size) {
                    let shapes: Vec<Vec<i64>> = inputs.iter().map(|i| i.size()).collect();
                    return Err(
                        self.input_error(format!("inputs of one shape, not {shapes:?}"), &size)
                    );
                }
                let mut sum = x.shallow_clone();
                for input in &inputs[1..] {
                    sum = sum.f_add(input)?;
                }
                Ok(sum)
            }
            LayerKind::Flatten => Ok(x.f_flatten(1, -1)?),
            LayerKind::Dense {
                inputs, activation, ..
            } => {
                let x = if x.dim() > 2 {
                    x.f_flatten(1, -1)?
                } else {
                    x.shallow_clone()
                };
                let size = x.size();
                if size.len() != 2 || size[1] != *inputs {
                    return Err(
                        self.input_error(format!("input with {inputs} features per sample"), &size)
                    );
                }
                let [kernel, bias] = weights else {
                    unreachable!("Layer::with_weights checks the number of weights");
                };
                let (x, kernel) = (compute.prepare(&x)?, compute.prepare(kernel)?);
                activation.apply(compute.prepare(bias)?.f_addmm(&x, &kernel)?)
            }
            LayerKind::Dropout { rate } => Ok(x.f_dropout(*rate, train)?),
        }
    }
}
