//! Time at the edge: the wall clock, a `setTimeout` future, and the run's
//! [`EdgeClock`] behind `fanout_shared::engine::runner::Clock`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use fanout_shared::engine::runner::Clock;
use fanout_shared::wire::protocol::Millis;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    // Date.now() is a finite, non-negative integer in milliseconds.
    js_sys::Date::now().max(0.0) as u64
}

/// A `setTimeout` future that wakes whichever task polled it last.
///
/// `worker::Delay` keeps the waker of its *first* poll. The response body
/// stream is polled from a new task on every pull, so a `Delay` created in
/// one pull and still pending in the next would wake a finished task and the
/// run would stall. This timer replaces its waker on every poll.
pub struct Sleep {
    state: Rc<SleepState>,
    timeout_id: Option<i32>,
    _callback: Option<Closure<dyn FnMut()>>,
}

#[derive(Default)]
struct SleepState {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Sleep {
    /// A timer that fires after `ms` milliseconds.
    pub fn new(ms: u64) -> Self {
        let state = Rc::new(SleepState::default());
        let in_callback = state.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            in_callback.fired.set(true);
            if let Some(w) = in_callback.waker.borrow_mut().take() {
                w.wake();
            }
        });
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        // setTimeout takes an i32; a run never waits anywhere near that long.
        let ms = i32::try_from(ms).unwrap_or(i32::MAX);
        let timeout_id =
            global.set_timeout_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), ms).ok();
        if timeout_id.is_none() {
            // No timer could be set: fire at once rather than never.
            state.fired.set(true);
        }
        Self { state, timeout_id, _callback: Some(callback) }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.fired.get() {
            return Poll::Ready(());
        }
        *self.state.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let (false, Some(id)) = (self.state.fired.get(), self.timeout_id) {
            let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            global.clear_timeout_with_handle(id);
        }
    }
}

/// The run's clock: milliseconds since the run started, and [`Sleep`] timers.
#[derive(Clone)]
pub struct EdgeClock {
    start: f64,
}

impl EdgeClock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self { start: js_sys::Date::now() }
    }
}

impl Clock for EdgeClock {
    type Sleep = Sleep;

    fn now(&self) -> Millis {
        (js_sys::Date::now() - self.start).max(0.0) as u64
    }

    fn now_us(&self) -> u64 {
        // As fine as the runtime's clock is (Workers advance it on I/O).
        ((js_sys::Date::now() - self.start) * 1000.0).max(0.0) as u64
    }

    fn sleep_until(&self, at: Millis) -> Sleep {
        Sleep::new(at.saturating_sub(self.now()))
    }
}
