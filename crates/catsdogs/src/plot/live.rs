//! `LiveCurves`: the accuracy and loss curves of a run while it trains, one figure under the
//! notebook cell that grows at the end of every epoch, as fastai's and livelossplot's do; a
//! callback of `fit` that a notebook adds or leaves out.

use super::curves::curves_over;
use crate::display::{DisplayHandle, Png};
use crate::error::Result;
use crate::history::{History, Logs};
use crate::train::callbacks::{Callback, Fit};

/// The curves of [`history_curves`](super::history_curves), drawn live while `fit` trains: an
/// empty figure over the epochs to train when training begins (or the epochs a resumed run
/// has already), redrawn in place at the end of every epoch, and at the end the figure of the
/// History as the plot cell draws it. Only in the "Rust (catsdogs)" kernel, where a display
/// redraws in place ([`crate::display::live`]); elsewhere it draws nothing and costs nothing.
///
/// It only shows the run ([`Callback::display_only`]): adding or removing it never keeps a
/// run from resuming.
///
/// ```
/// use catsdogs::plot::LiveCurves;
/// use catsdogs::train::callbacks::Callback;
/// use catsdogs::train::FitOptions;
/// let live_curves = true; // the notebooks' LIVE_CURVES parameter
/// let options = FitOptions::default().callback(LiveCurves::new(live_curves));
/// assert!(LiveCurves::default().display_only());
/// # let _ = options;
/// ```
#[derive(Debug)]
pub struct LiveCurves {
    screen: Screen,
    /// The epochs shown so far, from the first epoch's start on.
    history: Option<History>,
}

/// Where the figures go.
#[derive(Debug)]
enum Screen {
    /// Nowhere: displays do not redraw in place here.
    Off,
    /// Into this display.
    Live(DisplayHandle),
    /// Into a list, for the tests.
    #[cfg(test)]
    Recorded(Vec<Png>),
}

impl Default for LiveCurves {
    /// Curves shown where displays redraw in place: `LiveCurves::new(true)`.
    fn default() -> Self {
        LiveCurves::new(true)
    }
}

impl LiveCurves {
    /// Live curves when `show` (and displays redraw in place here); none when not, so that a
    /// notebook parameter switches them off without changing its cell.
    pub fn new(show: bool) -> LiveCurves {
        let screen = if show && crate::display::live() {
            Screen::Live(DisplayHandle::new())
        } else {
            Screen::Off
        };
        LiveCurves {
            screen,
            history: None,
        }
    }

    /// Shows `figure` in place of the last one, where displays redraw in place (and draws
    /// nothing elsewhere).
    fn show(&mut self, figure: impl FnOnce() -> Png) {
        match &mut self.screen {
            Screen::Off => {}
            Screen::Live(display) => display.update(&figure()),
            #[cfg(test)]
            Screen::Recorded(shown) => shown.push(figure()),
        }
    }
}

/// The figure of `history` during a run of `epochs` epochs: the curves so far across the whole
/// run's axis, titled with the last finished epoch.
fn during(history: &History, epochs: usize) -> Png {
    let title = match history.len() {
        0 => format!("Training {epochs} epochs"),
        done => format!("After epoch {done}/{epochs}"),
    };
    curves_over(history, &title, epochs)
}

impl Callback for LiveCurves {
    fn display_only(&self) -> bool {
        true
    }

    fn on_train_begin(&mut self, fit: &mut Fit) -> Result<()> {
        self.history = None;
        self.show(|| during(&History::default(), fit.epochs));
        Ok(())
    }

    /// Before the first epoch: the epochs that a resumed run has already, if any.
    fn on_epoch_begin(&mut self, _: usize, fit: &mut Fit) -> Result<()> {
        if self.history.is_none() {
            let history = fit.history().clone();
            if !history.is_empty() {
                self.show(|| during(&history, fit.epochs));
            }
            self.history = Some(history);
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, fit: &mut Fit) -> Result<()> {
        let mut history = self.history.take().unwrap_or_default();
        history.push(epoch, logs, 0.0);
        self.show(|| during(&history, fit.epochs));
        self.history = Some(history);
        Ok(())
    }

    fn on_train_end(&mut self, fit: &mut Fit) -> Result<()> {
        self.show(|| super::history_curves(fit.history(), ""));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::callbacks::testing::{drive, tiny_model};

    /// A History of epochs with these accuracies (and losses 1 - acc).
    fn history(acc: &[f64]) -> History {
        let mut history = History::default();
        for (epoch, &a) in acc.iter().enumerate() {
            history.push(epoch, &logs(a), 0.0);
        }
        history
    }

    fn logs(acc: f64) -> Logs {
        Logs::from([
            ("loss".into(), 1.0 - acc),
            ("acc".into(), acc),
            ("val_loss".into(), 1.0 - acc),
            ("val_acc".into(), acc),
        ])
    }

    /// The figures that `curves` showed while `epochs` were driven through it.
    fn shown(mut curves: LiveCurves, epochs: &[Logs]) -> Vec<Png> {
        curves.screen = Screen::Recorded(Vec::new());
        let mut model = tiny_model(0.1);
        drive(&mut curves, &mut model, epochs).unwrap();
        match curves.screen {
            Screen::Recorded(shown) => shown,
            _ => unreachable!("the screen records"),
        }
    }

    #[test]
    fn the_figure_grows_at_every_epoch_across_the_whole_run_s_axis() {
        let figures = shown(LiveCurves::default(), &[logs(0.5), logs(0.6)]);
        // drive() keeps no History in the model, so the last figure is of an empty one.
        let expected = [
            curves_over(&History::default(), "Training 2 epochs", 2),
            curves_over(&history(&[0.5]), "After epoch 1/2", 2),
            curves_over(&history(&[0.5, 0.6]), "After epoch 2/2", 2),
            super::super::history_curves(&History::default(), ""),
        ];
        assert_eq!(figures, expected);
        assert_ne!(figures[1], figures[2]);
    }

    #[test]
    fn outside_the_kernel_it_draws_nothing_and_keeps_no_state() {
        let curves = LiveCurves::default();
        assert!(
            matches!(curves.screen, Screen::Off),
            "tests do not run in the kernel"
        );
        assert_eq!(curves.config(), "LiveCurves");
        assert!(curves.display_only() && curves.state().is_none());
        let mut curves = curves;
        let mut model = tiny_model(0.1);
        let driven = drive(&mut curves, &mut model, &[logs(0.5)]).unwrap();
        assert_eq!((driven.logs, driven.stopped), (vec![logs(0.5)], None));
    }
}
