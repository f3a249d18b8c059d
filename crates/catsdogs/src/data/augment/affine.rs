//! The geometric part of `apply_transform`: Keras's transform matrix, and
//! `scipy.ndimage.affine_transform(order=1)` with its edge rules, as one inverse-mapped bilinear
//! sampler.
//!
//! Keras composes rotation, shift, shear and zoom (each only when it is not the identity) as
//! `R · S · Sh · Z`, moves the origin to the centre (`o = (rows / 2 - 0.5, cols / 2 - 0.5)`),
//! and then swaps the matrix's two axes, because it builds the matrix in (x, y) order while
//! arrays index (row, column): so `tx` ends up moving along the columns' coordinate, and for a
//! non-square image the centre offsets trade places too. We keep every one of those steps.
//!
//! scipy maps each output pixel `(i, j)` to the input point `(r, c)` by that matrix, in double
//! precision, and interpolates linearly along each axis: a point outside the image is first
//! mapped into it by the fill mode (`map_coordinate` in scipy's `ni_interpolation.c`), and the
//! two neighbours of the mapped point that fall outside again are mapped by the mode's "spline
//! mode" (mirror for `constant` and `wrap`). With `constant`, a point outside `[0, side - 1]`
//! along either axis is `cval` as a whole, not blended with the edge. The sums run in scipy's
//! order, so for the same matrix the values agree to the last bit.

use super::ranges::FillMode;

/// An input element: the decoded cache's `u8` pixels or `img_to_array`'s `f32` values.
pub(crate) trait Pixel: Copy + Send + Sync {
    /// The value, as scipy reads it (a double).
    fn value(self) -> f64;
}

impl Pixel for u8 {
    fn value(self) -> f64 {
        f64::from(self)
    }
}

impl Pixel for f32 {
    fn value(self) -> f64 {
        f64::from(self)
    }
}

/// Where an output pixel `(i, j)` reads the input: `(r, c) = a · (i, j) + b`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Affine {
    a: [[f64; 2]; 2],
    b: [f64; 2],
}

type Matrix = [[f64; 3]; 3];

const IDENTITY: Matrix = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// `p · q`.
fn dot(p: &Matrix, q: &Matrix) -> Matrix {
    std::array::from_fn(|i| {
        std::array::from_fn(|j| p[i][0] * q[0][j] + p[i][1] * q[1][j] + p[i][2] * q[2][j])
    })
}

impl Affine {
    /// Keras's `apply_affine_transform` matrix for an image of `rows` x `cols`, with the angles
    /// in degrees; `None` when Keras applies no geometric transform at all (every parameter is
    /// the identity), so that the image is left exactly as it is.
    pub(crate) fn keras(
        [theta, tx, ty, shear, zx, zy]: [f64; 6],
        rows: usize,
        cols: usize,
    ) -> Option<Affine> {
        let mut matrix: Option<Matrix> = None;
        let mut then = |m: Matrix| {
            matrix = Some(match matrix {
                None => m,
                Some(before) => dot(&before, &m),
            })
        };
        if theta != 0.0 {
            let (sin, cos) = theta.to_radians().sin_cos();
            then([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]);
        }
        if tx != 0.0 || ty != 0.0 {
            then([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]]);
        }
        if shear != 0.0 {
            let (sin, cos) = shear.to_radians().sin_cos();
            then([[1.0, -sin, 0.0], [0.0, cos, 0.0], [0.0, 0.0, 1.0]]);
        }
        if zx != 1.0 || zy != 1.0 {
            then([[zx, 0.0, 0.0], [0.0, zy, 0.0], [0.0, 0.0, 1.0]]);
        }
        let matrix = matrix?;
        let (ox, oy) = (rows as f64 / 2.0 - 0.5, cols as f64 / 2.0 - 0.5);
        let mut offset = IDENTITY;
        (offset[0][2], offset[1][2]) = (ox, oy);
        let mut reset = IDENTITY;
        (reset[0][2], reset[1][2]) = (-ox, -oy);
        let t = dot(&dot(&offset, &matrix), &reset);
        // Keras swaps the first two rows and columns (x, y to row, column).
        Some(Affine {
            a: [[t[1][1], t[1][0]], [t[0][1], t[0][0]]],
            b: [t[1][2], t[0][2]],
        })
    }
}

/// Edge rules of scipy's `map_coordinate`: the fill modes, and `mirror`, the rule for the
/// neighbours of a mapped point under `constant` and `wrap`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Nearest,
    Constant,
    Reflect,
    Wrap,
    Mirror,
}

impl From<FillMode> for Edge {
    fn from(mode: FillMode) -> Self {
        match mode {
            FillMode::Nearest => Edge::Nearest,
            FillMode::Constant => Edge::Constant,
            FillMode::Reflect => Edge::Reflect,
            FillMode::Wrap => Edge::Wrap,
        }
    }
}

impl Edge {
    /// The rule for a mapped point's neighbours outside the image (scipy's
    /// `_get_spline_boundary_mode`).
    fn neighbours(self) -> Edge {
        match self {
            Edge::Constant | Edge::Wrap => Edge::Mirror,
            other => other,
        }
    }
}

/// scipy's `map_coordinate`: a coordinate outside `[0, len - 1]` mapped by `edge` (`-1` for
/// `constant`, which means `cval`). The integer products are exact, as scipy's are.
fn map_coordinate(x: f64, len: usize, edge: Edge) -> f64 {
    let n = len as i64;
    let last = (len - 1) as f64;
    if !(x < 0.0 || x > last) {
        return x;
    }
    if len <= 1 {
        return match edge {
            Edge::Constant => -1.0,
            _ => 0.0,
        };
    }
    // Saturating, where scipy's casts would overflow: only for points beyond 2^62 pixels,
    // whose indices the caller clamps.
    let times = |count: f64, period: i64| period.saturating_mul(count as i64) as f64;
    if x < 0.0 {
        match edge {
            Edge::Mirror => {
                let sz2 = 2 * n - 2;
                let x = times(-x / sz2 as f64, sz2) + x;
                if x <= (1 - n) as f64 {
                    x + sz2 as f64
                } else {
                    -x
                }
            }
            Edge::Reflect => {
                let sz2 = 2 * n;
                let x = if x < -sz2 as f64 {
                    times(-x / sz2 as f64, sz2) + x
                } else {
                    x
                };
                if x < -(n as f64) {
                    x + sz2 as f64
                } else {
                    (if x > -1e-15 { 1e-15 } else { -x }) - 1.0
                }
            }
            Edge::Wrap => {
                let sz = n - 1;
                x + sz.saturating_mul(((-x / sz as f64) as i64).saturating_add(1)) as f64
            }
            Edge::Nearest => 0.0,
            Edge::Constant => -1.0,
        }
    } else {
        match edge {
            Edge::Mirror => {
                let sz2 = 2 * n - 2;
                let x = x - times(x / sz2 as f64, sz2);
                if x >= len as f64 {
                    sz2 as f64 - x
                } else {
                    x
                }
            }
            Edge::Reflect => {
                let sz2 = 2 * n;
                let x = x - times(x / sz2 as f64, sz2);
                if x >= len as f64 {
                    sz2 as f64 - x - 1.0
                } else {
                    x
                }
            }
            Edge::Wrap => {
                let sz = n - 1;
                x - times(x / sz as f64, sz)
            }
            Edge::Nearest => last,
            Edge::Constant => -1.0,
        }
    }
}

/// The two input indices along one axis that a point reads, and their weights.
#[derive(Clone, Copy)]
struct Tap {
    near: usize,
    far: usize,
    w_near: f64,
    w_far: f64,
}

impl Tap {
    /// The filter at `x` with `0 <= x < len - 1`, where no edge rule applies: what [`tap`]
    /// gives there, without the mapping.
    #[inline]
    fn inside(x: f64) -> Tap {
        // The floor, for x >= 0, through i64: one instruction each way, where usize takes ten.
        let start = x as i64;
        let w_near = 1.0 - (x - start as f64);
        Tap {
            near: start as usize,
            far: start as usize + 1,
            w_near,
            w_far: 1.0 - w_near,
        }
    }
}

/// `x.floor()`, without the call to libm that baseline x86-64 makes of it: through i64 where
/// `x` has a fraction (|x| < 2^52), `x` itself beyond (every such f64 is whole).
#[inline]
fn floor(x: f64) -> f64 {
    const WHOLE: f64 = 4_503_599_627_370_496.0; // 2^52
    if x.abs() < WHOLE {
        let truncated = x as i64 as f64;
        if truncated > x {
            truncated - 1.0
        } else {
            truncated
        }
    } else {
        x
    }
}

/// scipy's order-1 filter along one axis of `len` at coordinate `x`; `None` means `cval`.
#[inline]
fn tap(x: f64, len: usize, edge: Edge) -> Option<Tap> {
    // scipy maps the point by every mode but nearest, whose neighbours it clamps instead.
    let x = if edge == Edge::Nearest {
        x
    } else {
        map_coordinate(x, len, edge)
    };
    if !(x > -1.0 || edge == Edge::Nearest) {
        return None;
    }
    let floor = floor(x);
    let w_near = 1.0 - (x - floor);
    let start = floor as i64;
    let (near, far) = if start >= 0 && start + 1 < len as i64 {
        (start as usize, start as usize + 1)
    } else {
        let outer = edge.neighbours();
        // The clamp only matters for points so far out that scipy's own casts overflow; it is
        // the whole rule for nearest.
        let index = |i: i64| match outer {
            Edge::Nearest => i.clamp(0, len as i64 - 1) as usize,
            _ => (map_coordinate(i as f64, len, outer) as usize).min(len - 1),
        };
        (index(start), index(start.saturating_add(1)))
    };
    Some(Tap {
        near,
        far,
        w_near,
        w_far: 1.0 - w_near,
    })
}

/// scipy's order-1 sum over the four neighbours (`N` channels each: near row and column, near
/// row and far column, ...): `(value * row weight) * column weight`, summed from 0.0 in that
/// order.
#[inline(always)]
fn blend<P: Pixel, const N: usize>(corners: [&[P]; 4], r: &Tap, c: &Tap) -> [f32; N] {
    let weights = [
        (r.w_near, c.w_near),
        (r.w_near, c.w_far),
        (r.w_far, c.w_near),
        (r.w_far, c.w_far),
    ];
    let mut sum = [0.0; N];
    for (corner, (wr, wc)) in corners.into_iter().zip(weights) {
        for (s, v) in sum.iter_mut().zip(corner) {
            *s += v.value() * wr * wc;
        }
    }
    sum.map(|s| s as f32)
}

/// The image's size and layout: (rows, cols, channels), channels last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) channels: usize,
}

/// What the sampler does besides the matrix: the fill rule and Keras's flips, which come after
/// the affine transform and are folded into where each output pixel reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Warp {
    pub(crate) affine: Option<Affine>,
    pub(crate) fill_mode: FillMode,
    pub(crate) cval: f64,
    pub(crate) flip_horizontal: bool,
    pub(crate) flip_vertical: bool,
}

/// Where the sampler writes: channel `c` of output pixel `p` (row-major) goes to
/// `p * pixel_stride + channel_offset[c]`. Interleaved is `img_to_array`'s (height, width,
/// channels); planar is a network input's (channels, height, width), in any channel order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pixel_stride: usize,
    channel_offset: Vec<usize>,
}

impl Layout {
    /// (height, width, channels), channels in order.
    pub(crate) fn interleaved(channels: usize) -> Layout {
        Layout {
            pixel_stride: channels,
            channel_offset: (0..channels).collect(),
        }
    }

    /// (channels, height, width) of `plane` pixels each, channel `c` in plane `position(c)`.
    pub(crate) fn planar(
        channels: usize,
        plane: usize,
        position: impl Fn(usize) -> usize,
    ) -> Layout {
        Layout {
            pixel_stride: 1,
            channel_offset: (0..channels).map(|c| position(c) * plane).collect(),
        }
    }
}

impl Warp {
    /// Writes the transformed image into `out` (`f32`, as many values as `src`), laid out as
    /// `layout` says (one of `shape.channels` channel offsets).
    pub(crate) fn apply<P: Pixel>(
        &self,
        src: &[P],
        shape: Shape,
        out: &mut [f32],
        layout: &Layout,
    ) {
        debug_assert_eq!(src.len(), shape.rows * shape.cols * shape.channels);
        debug_assert_eq!(out.len(), src.len());
        debug_assert_eq!(layout.channel_offset.len(), shape.channels);
        if shape.channels == 3 {
            self.sample::<P, 3>(src, shape, out, layout, 0);
        } else {
            for channel in 0..shape.channels {
                self.sample::<P, 1>(src, shape, out, layout, channel);
            }
        }
    }

    /// Writes channels `first..first + N` of every output pixel: one pass over the output,
    /// computing where each pixel reads once for its `N` channels.
    fn sample<P: Pixel, const N: usize>(
        &self,
        src: &[P],
        shape: Shape,
        out: &mut [f32],
        layout: &Layout,
        first: usize,
    ) {
        let Shape {
            rows,
            cols,
            channels,
        } = shape;
        // Without a matrix Keras leaves the image as it is; the identity reads each pixel with
        // weight 1 (and its neighbour with weight 0), which gives the same values.
        let Affine { a, b } = self.affine.unwrap_or(Affine {
            a: [[1.0, 0.0], [0.0, 1.0]],
            b: [0.0, 0.0],
        });
        let edge = Edge::from(self.fill_mode);
        let cval = self.cval as f32;
        // Whole numbers as f64 through i64 (exact below 2^53; sides are at most 4096).
        let flip =
            |k: usize, n: usize, flipped: bool| (if flipped { n - 1 - k } else { k }) as i64 as f64;
        let (last_row, last_col) = ((rows - 1) as i64 as f64, (cols - 1) as i64 as f64);
        let at = |row: usize, col: usize| (row * cols + col) * channels + first;
        let offsets: [usize; N] = std::array::from_fn(|k| layout.channel_offset[first + k]);
        for i in 0..rows {
            let si = flip(i, rows, self.flip_vertical);
            // scipy's sum: the shift, plus the row's term, plus the column's.
            let (r0, c0) = (b[0] + si * a[0][0], b[1] + si * a[1][0]);
            for j in 0..cols {
                let sj = flip(j, cols, self.flip_horizontal);
                let (r, c) = (r0 + sj * a[0][1], c0 + sj * a[1][1]);
                let inside = r >= 0.0 && r < last_row && c >= 0.0 && c < last_col;
                let t = if inside && channels == N {
                    // Inside, interleaved: each row's two neighbours are 2N values in a row.
                    let (r, c) = (Tap::inside(r), Tap::inside(c));
                    let top = at(r.near, c.near);
                    let upper = &src[top..][..2 * N];
                    let lower = &src[top + cols * channels..][..2 * N];
                    let corners = [&upper[..N], &upper[N..], &lower[..N], &lower[N..]];
                    blend(corners, &r, &c)
                } else {
                    let taps = if inside {
                        Some((Tap::inside(r), Tap::inside(c)))
                    } else {
                        tap(r, rows, edge).zip(tap(c, cols, edge))
                    };
                    match taps {
                        Some((r, c)) => {
                            let corners = [
                                at(r.near, c.near),
                                at(r.near, c.far),
                                at(r.far, c.near),
                                at(r.far, c.far),
                            ];
                            blend(corners.map(|k| &src[k..k + N]), &r, &c)
                        }
                        None => [cval; N],
                    }
                };
                let pixel = (i * cols + j) * layout.pixel_stride;
                for (offset, t) in offsets.iter().zip(t) {
                    out[pixel + offset] = t;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel that a whole-numbered coordinate reads along a side of 4 (`abcd`).
    fn read(x: f64, mode: FillMode) -> Option<usize> {
        tap(x, 4, Edge::from(mode)).map(|t| {
            assert_eq!((t.w_near, t.w_far), (1.0, 0.0));
            t.near
        })
    }

    #[test]
    fn edge_rules_are_scipys() {
        let at = |mode, xs: &[f64]| xs.iter().map(|&x| read(x, mode)).collect::<Vec<_>>();
        let some = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        let outside = [-3.0, -2.0, -1.0, 4.0, 5.0, 6.0];
        // nearest: aaa|abcd|ddd; reflect: cba|abcd|dcb; wrap: dbc|abcd|bca.
        assert_eq!(at(FillMode::Nearest, &outside), some(&[0, 0, 0, 3, 3, 3]));
        assert_eq!(at(FillMode::Reflect, &outside), some(&[2, 1, 0, 3, 2, 1]));
        assert_eq!(at(FillMode::Wrap, &outside), some(&[3, 1, 2, 1, 2, 0]));
        assert_eq!(at(FillMode::Constant, &outside), [None; 6]);
        assert_eq!(at(FillMode::Constant, &[0.0, 3.0]), some(&[0, 3]));
    }

    #[test]
    fn points_between_pixels_blend_the_mapped_neighbours() {
        // reflect: -0.25 maps to -0.75, between pixel 0 and its mirror image, pixel 0 again.
        let t = tap(-0.25, 4, Edge::Reflect).unwrap();
        assert_eq!((t.near, t.far, t.w_near, t.w_far), (0, 0, 0.75, 0.25));
        // wrap: 3.5 maps to 0.5, between a and b (period 3).
        let t = tap(3.5, 4, Edge::Wrap).unwrap();
        assert_eq!((t.near, t.far, t.w_near, t.w_far), (0, 1, 0.5, 0.5));
        // constant: just outside is cval as a whole, not a blend with the edge.
        assert!(tap(-0.01, 4, Edge::Constant).is_none());
        assert!(tap(3.01, 4, Edge::Constant).is_none());
    }

    #[test]
    fn floor_is_libms() {
        for x in [
            -2.5,
            -2.0,
            -0.25,
            -0.0,
            0.0,
            0.75,
            3.0,
            1e15 + 0.5,
            -1e300,
            1e300,
            f64::MAX,
        ] {
            assert_eq!(floor(x), x.floor(), "{x}");
        }
    }

    #[test]
    fn no_parameters_is_no_matrix_and_a_shift_is_a_translation() {
        assert_eq!(Affine::keras([0.0, 0.0, 0.0, 0.0, 1.0, 1.0], 5, 7), None);
        let shifted = Affine::keras([0.0, 2.0, -3.0, 0.0, 1.0, 1.0], 5, 7).unwrap();
        // Keras's swap: tx moves along the columns' coordinate, ty along the rows'.
        assert_eq!(shifted.a, [[1.0, 0.0], [0.0, 1.0]]);
        assert_eq!(shifted.b, [-3.0, 2.0]);
    }
}
