//! The shapes that layers give and take: one sample's output shape for its input shape, and
//! whether a layer can take an input at all, checked before a stored model is built.

use super::{LayerKind, Padding, Window};
use crate::tensor_file::checked_elements;

/// The output side of a convolution or pooling window along an axis of `size`, if the window
/// fits.
fn window_output(size: i64, window: &Window) -> Option<i64> {
    let (before, after) = window
        .padding
        .pads(size, window.kernel_size, window.strides);
    (size + before + after >= window.kernel_size).then(|| {
        window
            .padding
            .output_size(size, window.kernel_size, window.strides)
    })
}

/// The largest kernel side, stride and padding a stored model may ask for (the networks here
/// use at most 7), which keeps every size computation far from overflowing.
const MAX_WINDOW: i64 = 64;

/// The sizes of a window that are sane: a kernel and stride of 1 to [`MAX_WINDOW`], padding
/// of 0 to [`MAX_WINDOW`].
fn check_window(window: &Window) -> Result<(), String> {
    let padding = match window.padding {
        Padding::Symmetric(n) => n,
        Padding::Same | Padding::Valid => 0,
    };
    let sane = |n: i64, least: i64| (least..=MAX_WINDOW).contains(&n);
    if !(sane(window.kernel_size, 1) && sane(window.strides, 1) && sane(padding, 0)) {
        return Err(format!("a window of {window:?}"));
    }
    Ok(())
}

/// A map `[channels, height, width]` taken by a window: the output's height and width.
fn map_output(input: &[i64], window: &Window) -> Option<(i64, i64)> {
    match input {
        [_, h, w] => Some((window_output(*h, window)?, window_output(*w, window)?)),
        _ => None,
    }
}

impl LayerKind {
    /// The shape of one sample of the output, given one sample of the (first) input (NCHW
    /// without the batch axis: `[channels, height, width]`, or `[features]` once flat).
    pub fn output_shape(&self, input: &[i64]) -> Vec<i64> {
        let map = |channels: i64, window: &Window| match map_output(input, window) {
            Some((h, w)) => vec![channels, h, w],
            None => vec![channels, 0, 0],
        };
        match self {
            LayerKind::Conv2d {
                filters, window, ..
            } => map(*filters, window),
            LayerKind::DepthwiseConv2d { channels, window } => map(*channels, window),
            LayerKind::MaxPool2d => input
                .iter()
                .enumerate()
                .map(|(axis, &size)| if axis == 0 { size } else { size / 2 })
                .collect(),
            LayerKind::MaxPool2dWith { pool_size, strides } => {
                let channels = input.first().copied().unwrap_or(0);
                map(channels, &Window::new(*pool_size, *strides, Padding::Valid))
            }
            LayerKind::ZeroPadding2d {
                padding: [top, bottom, left, right],
            } => match input {
                [c, h, w] => vec![*c, h + top + bottom, w + left + right],
                _ => input.to_vec(),
            },
            LayerKind::GlobalAveragePooling2d | LayerKind::GlobalMaxPooling2d => {
                input.iter().take(1).copied().collect()
            }
            LayerKind::Flatten => vec![input.iter().product()],
            LayerKind::Dense { units, .. } => vec![*units],
            LayerKind::BatchNorm { .. }
            | LayerKind::Activation { .. }
            | LayerKind::Relu6
            | LayerKind::Add
            | LayerKind::Dropout { .. } => input.to_vec(),
        }
    }

    /// Whether this layer can take samples of shape `input` and its sizes are sane: positive
    /// sizes within what the weights readers accept, a dropout rate in [0, 1), maps large
    /// enough for a window. A sentence saying what is wrong otherwise.
    ///
    /// ```
    /// use catsdogs::model::LayerKind;
    /// assert!(LayerKind::Dropout { rate: 0.5 }.check_input(&[10]).is_ok());
    /// assert!(LayerKind::Dropout { rate: 5.0 }.check_input(&[10]).is_err());
    /// assert!(LayerKind::MaxPool2d.check_input(&[64, 1, 1]).is_err());
    /// ```
    pub fn check_input(&self, input: &[i64]) -> Result<(), String> {
        for (_, shape) in self.weight_shapes() {
            checked_elements(&shape)?;
        }
        let channels_of = |expected: i64, what: &str| match input {
            [channels, _, _] if *channels == expected => Ok(()),
            _ => Err(format!(
                "{what} over {expected} channels gets samples of shape {input:?}"
            )),
        };
        let fits = |window: &Window| {
            check_window(window)?;
            map_output(input, window)
                .filter(|&(h, w)| h >= 1 && w >= 1)
                .map(|_| ())
                .ok_or_else(|| format!("a window of {window:?} gets samples of shape {input:?}"))
        };
        match self {
            LayerKind::Conv2d {
                in_channels,
                filters,
                window,
                ..
            } => {
                if *in_channels < 1 || *filters < 1 {
                    return Err(format!(
                        "a convolution of {in_channels} to {filters} channels"
                    ));
                }
                channels_of(*in_channels, "a convolution")?;
                fits(window)
            }
            LayerKind::DepthwiseConv2d { channels, window } => {
                if *channels < 1 {
                    return Err(format!("a depthwise convolution of {channels} channels"));
                }
                channels_of(*channels, "a depthwise convolution")?;
                fits(window)
            }
            LayerKind::BatchNorm {
                channels,
                epsilon,
                momentum,
            } => {
                if !(*epsilon > 0.0 && (0.0..=1.0).contains(momentum)) {
                    return Err(format!(
                        "a batch normalisation of epsilon {epsilon} and momentum {momentum}"
                    ));
                }
                channels_of(*channels, "a batch normalisation")
            }
            LayerKind::MaxPool2d => match input {
                [_, height, width] if *height >= 2 && *width >= 2 => Ok(()),
                _ => Err(format!("a 2x2 pooling gets samples of shape {input:?}")),
            },
            LayerKind::MaxPool2dWith { pool_size, strides } => {
                fits(&Window::new(*pool_size, *strides, Padding::Valid))
            }
            LayerKind::ZeroPadding2d { padding } => {
                if padding.iter().any(|&p| !(0..=MAX_WINDOW).contains(&p)) || input.len() != 3 {
                    return Err(format!(
                        "a zero padding of {padding:?} gets samples of shape {input:?}"
                    ));
                }
                Ok(())
            }
            LayerKind::GlobalAveragePooling2d | LayerKind::GlobalMaxPooling2d => match input {
                [_, h, w] if *h >= 1 && *w >= 1 => Ok(()),
                _ => Err(format!("a global pooling gets samples of shape {input:?}")),
            },
            LayerKind::Dense { inputs, units, .. } => {
                let features = input.iter().product::<i64>();
                if *units < 1 || *inputs != features {
                    return Err(format!(
                        "a dense layer of {inputs} inputs and {units} units gets samples of {features} features"
                    ));
                }
                Ok(())
            }
            LayerKind::Dropout { rate } => {
                if (0.0..1.0).contains(rate) {
                    Ok(())
                } else {
                    Err(format!("a dropout rate of {rate}, outside [0, 1)"))
                }
            }
            LayerKind::Activation { .. }
            | LayerKind::Relu6
            | LayerKind::Add
            | LayerKind::Flatten => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;

    #[test]
    fn windows_give_keras_sizes() {
        let conv = |k, s, padding| LayerKind::Conv2d {
            in_channels: 3,
            filters: 8,
            activation: Activation::Linear,
            window: Window::new(k, s, padding),
        };
        // ResNet50's conv1 after its 3-pixel padding, MobileNetV2's Conv1.
        assert_eq!(
            conv(7, 2, Padding::Valid).output_shape(&[3, 230, 230]),
            [8, 112, 112]
        );
        assert_eq!(
            conv(3, 2, Padding::Same).output_shape(&[3, 224, 224]),
            [8, 112, 112]
        );
        assert_eq!(
            conv(3, 2, Padding::Same).output_shape(&[3, 225, 7]),
            [8, 113, 4]
        );
        assert_eq!(
            conv(1, 2, Padding::Valid).output_shape(&[3, 56, 56]),
            [8, 28, 28]
        );
        assert_eq!(
            conv(3, 2, Padding::Symmetric(1)).output_shape(&[3, 56, 56]),
            [8, 28, 28]
        );
        assert!(conv(7, 2, Padding::Valid).check_input(&[3, 6, 6]).is_err());
        assert!(conv(3, 0, Padding::Valid).check_input(&[3, 6, 6]).is_err());
        let pool = LayerKind::MaxPool2dWith {
            pool_size: 3,
            strides: 2,
        };
        assert_eq!(pool.output_shape(&[64, 114, 114]), [64, 56, 56]);
        let pad = LayerKind::ZeroPadding2d {
            padding: [0, 1, 0, 1],
        };
        assert_eq!(pad.output_shape(&[8, 4, 4]), [8, 5, 5]);
        assert_eq!(
            LayerKind::GlobalAveragePooling2d.output_shape(&[2048, 7, 7]),
            [2048]
        );
    }
}
