//! One invocation's connections: at most `limit` requests waiting for their
//! response headers at once, the rest queued in order, as the Workers runtime
//! does for each invocation (six; a seventh `fetch()` waits inside the
//! runtime until one of the six has its headers).
//!
//! `wrangler dev` enforces none of that, so the edge keeps the limit itself:
//! every subrequest an invocation makes (a page, a robots.txt, a sitemap, a
//! webhook, a D1 call, a Durable Object request) takes a [`Permit`] before it
//! goes out and drops it when its headers (or its answer) arrive. Reading a
//! body holds none. The virtual-time tests use the same gate as the runtime
//! they simulate.
//!
//! No clock and no executor: acquiring is a future that any single-threaded
//! executor drives, and a dropped permit wakes the next in line.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct Inner {
    /// `None`: no limit.
    limit: Option<u32>,
    held: u32,
    peak: u32,
    /// Tickets in line, oldest first, each with the waker of its last poll.
    line: VecDeque<(u64, Option<Waker>)>,
    next_ticket: u64,
}

impl Inner {
    fn has_room(&self) -> bool {
        self.limit.is_none_or(|l| self.held < l)
    }

    fn take(&mut self) {
        self.held += 1;
        self.peak = self.peak.max(self.held);
    }

    /// Wake whoever is first in line, if there is room for them.
    fn wake_front(&mut self) {
        if self.has_room()
            && let Some((_, w)) = self.line.front_mut()
            && let Some(w) = w.take()
        {
            w.wake();
        }
    }
}

/// One invocation's connection slots. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Gate(Rc<RefCell<Inner>>);

impl Gate {
    /// At most `limit` holders at once; 0 means no limit.
    pub fn new(limit: u32) -> Self {
        Self(Rc::new(RefCell::new(Inner { limit: (limit > 0).then_some(limit), ..Inner::default() })))
    }

    /// A permit, when a slot is free and everyone queued before has had theirs.
    pub fn acquire(&self) -> Acquire {
        Acquire { gate: self.0.clone(), ticket: None }
    }

    /// Permits held now.
    pub fn held(&self) -> u32 {
        self.0.borrow().held
    }

    /// Most permits held at once.
    pub fn peak(&self) -> u32 {
        self.0.borrow().peak
    }

    /// Requests waiting for a permit now.
    pub fn waiting(&self) -> usize {
        self.0.borrow().line.len()
    }

    /// The limit (0: none).
    pub fn limit(&self) -> u32 {
        self.0.borrow().limit.unwrap_or(0)
    }
}

/// The future of [`Gate::acquire`].
#[derive(Debug)]
pub struct Acquire {
    gate: Rc<RefCell<Inner>>,
    ticket: Option<u64>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let gate = self.gate.clone();
        let mut g = gate.borrow_mut();
        match self.ticket {
            None if g.line.is_empty() && g.has_room() => {
                g.take();
                drop(g);
                Poll::Ready(Permit { gate: Some(gate) })
            }
            None => {
                let t = g.next_ticket;
                g.next_ticket += 1;
                g.line.push_back((t, Some(cx.waker().clone())));
                self.ticket = Some(t);
                Poll::Pending
            }
            Some(t) => {
                if g.line.front().is_some_and(|(f, _)| *f == t) && g.has_room() {
                    g.line.pop_front();
                    g.take();
                    // The next in line may fit too (several slots freed at once).
                    g.wake_front();
                    drop(g);
                    self.ticket = None;
                    return Poll::Ready(Permit { gate: Some(gate) });
                }
                if let Some(entry) = g.line.iter_mut().find(|(f, _)| *f == t) {
                    entry.1 = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        // Given up while in line (an aborted request): leave the line, and
        // let the next one in if this one was holding it up.
        if let Some(t) = self.ticket {
            let mut g = self.gate.borrow_mut();
            g.line.retain(|(f, _)| *f != t);
            g.wake_front();
        }
    }
}

/// A held connection slot, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    gate: Option<Rc<RefCell<Inner>>>,
}

impl Permit {
    /// Give the slot back now (the headers arrived).
    pub fn release(mut self) {
        self.give_back();
    }

    fn give_back(&mut self) {
        if let Some(gate) = self.gate.take() {
            let mut g = gate.borrow_mut();
            g.held -= 1;
            g.wake_front();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.give_back();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;

    use super::*;

    #[test]
    fn at_most_limit_holders_and_the_rest_in_order() {
        let gate = Gate::new(2);
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut pool = LocalPool::new();
        let mut senders = Vec::new();
        for i in 0..5 {
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            senders.push(tx);
            let (gate, order) = (gate.clone(), order.clone());
            pool.spawner()
                .spawn_local(async move {
                    let permit = gate.acquire().await;
                    order.borrow_mut().push(i);
                    let _ = rx.await;
                    drop(permit);
                })
                .expect("spawn");
        }
        pool.run_until_stalled();
        assert_eq!(*order.borrow(), vec![0, 1]);
        assert_eq!((gate.held(), gate.waiting()), (2, 3));
        // The second holder finishes first: the third in line gets its slot.
        senders.remove(1).send(()).expect("holder 1");
        pool.run_until_stalled();
        assert_eq!(*order.borrow(), vec![0, 1, 2]);
        // Two slots free at once: both next in line go in.
        senders.remove(0).send(()).expect("holder 0");
        senders.remove(0).send(()).expect("holder 2");
        pool.run_until_stalled();
        assert_eq!(*order.borrow(), vec![0, 1, 2, 3, 4]);
        assert_eq!(gate.peak(), 2);
    }

    #[test]
    fn a_request_that_gives_up_in_line_lets_the_next_one_in() {
        let gate = Gate::new(1);
        let first = futures::executor::block_on(gate.acquire());
        let mut pool = LocalPool::new();
        let got = Rc::new(Cell::new(false));
        let (g, got2) = (gate.clone(), got.clone());
        // Queued, then dropped while in line.
        let waiting = pool.spawner().spawn_local_with_handle(async move { g.acquire().await }).expect("spawn");
        let g = gate.clone();
        pool.spawner()
            .spawn_local(async move {
                let _p = g.acquire().await;
                got2.set(true);
            })
            .expect("spawn");
        pool.run_until_stalled();
        assert_eq!(gate.waiting(), 2);
        drop(waiting);
        pool.run_until_stalled();
        assert_eq!(gate.waiting(), 1);
        first.release();
        pool.run_until_stalled();
        assert!(got.get());
        assert_eq!(gate.held(), 0);
    }

    #[test]
    fn no_limit_never_waits() {
        let gate = Gate::new(0);
        let permits: Vec<Permit> = (0..100).map(|_| futures::executor::block_on(gate.acquire())).collect();
        assert_eq!(gate.held(), 100);
        drop(permits);
        assert_eq!(gate.held(), 0);
    }
}
