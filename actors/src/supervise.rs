//! Supervision for the runtime actors. actix's `Supervisor` restarts an
//! actor that stops, but a panic inside a handler is not a stop: it unwinds
//! the arbiter's thread. So each unit of an actor's work runs on a task of
//! its own, where a panic is observed as a `JoinError`; the actor then
//! raises a `health_alert` and stops, and its `Supervisor` restarts it
//! (`Supervised::restarting` resets what the panic may have left half done).

use std::future::Future;

use serde_json::json;

use crate::bus::EventBus;
use crate::events::{now_iso, Event, HealthEvent};

/// Runs `work` on its own task. `None` when it panicked: the panic was
/// logged and published as a critical `health_alert` for `component`.
pub async fn guarded<T, F>(component: &'static str, bus: &EventBus, work: F) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(v) => Some(v),
        Err(e) => {
            let what = if e.is_panic() {
                "panicked"
            } else {
                "was cancelled"
            };
            tracing::error!(component, error = %e, "actor work {what}; restarting the actor");
            bus.publish(Event::new(HealthEvent {
                component: component.into(),
                status: "critical".into(),
                metrics: json!({}),
                message: format!("{component} {what}; it was restarted"),
                timestamp: now_iso(),
                alert: true,
            }));
            None
        }
    }
}

/// Runs synchronous work of an actor that works on its own thread (the
/// QueryLogActor). `None` when it panicked: the panic was logged and
/// published as a critical `health_alert`, and the caller resets itself.
pub fn guarded_sync<T>(
    component: &'static str,
    bus: &EventBus,
    work: impl FnOnce() -> T,
) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::error!(component, "actor work panicked; resetting the actor");
            bus.publish(Event::new(HealthEvent {
                component: component.into(),
                status: "critical".into(),
                metrics: json!({}),
                message: format!("{component} panicked; it was restarted"),
                timestamp: now_iso(),
                alert: true,
            }));
            None
        }
    }
}

/// An actor that works in rounds (a health check round, a metrics sample),
/// one at a time.
pub trait Rounds: actix::Actor<Context = actix::Context<Self>> + actix::Supervised {
    /// Whether a round is running: set while one runs, so the next is skipped.
    fn busy(&mut self) -> &mut bool;
}

/// Starts one round of `act`'s work unless one is running. A round that
/// panics stops the actor, and its `Supervisor` restarts it.
pub fn spawn_round<A, F>(
    act: &mut A,
    ctx: &mut actix::Context<A>,
    component: &'static str,
    bus: EventBus,
    work: F,
) where
    A: Rounds,
    F: Future<Output = ()> + Send + 'static,
{
    use actix::{ActorContext, ActorFutureExt, AsyncContext, WrapFuture};
    if std::mem::replace(act.busy(), true) {
        return;
    }
    let round = async move { guarded(component, &bus, work).await };
    ctx.spawn(round.into_actor(act).map(|done, act: &mut A, ctx| {
        *act.busy() = false;
        if done.is_none() {
            ctx.stop();
        }
    }));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::events::{EventType, Priority};

    /// Panics in its first round, then counts rounds.
    struct Flaky {
        busy: bool,
        rounds: Arc<AtomicUsize>,
        restarts: Arc<AtomicUsize>,
        bus: EventBus,
    }

    #[derive(actix::Message)]
    #[rtype(result = "()")]
    struct Round;

    impl actix::Actor for Flaky {
        type Context = actix::Context<Self>;
    }

    impl actix::Supervised for Flaky {
        fn restarting(&mut self, _: &mut Self::Context) {
            self.restarts.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Rounds for Flaky {
        fn busy(&mut self) -> &mut bool {
            &mut self.busy
        }
    }

    impl actix::Handler<Round> for Flaky {
        type Result = ();

        fn handle(&mut self, _: Round, ctx: &mut Self::Context) {
            let rounds = self.rounds.clone();
            let work = async move {
                if rounds.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first round fails");
                }
            };
            spawn_round(self, ctx, "flaky", self.bus.clone(), work);
        }
    }

    #[test]
    fn a_panic_in_synchronous_work_is_caught_and_alerted() {
        let bus = EventBus::new(None);
        let mut events = bus.subscribe();
        assert_eq!(guarded_sync("querylog", &bus, || 7), Some(7));
        assert!(events.try_recv().is_err(), "no alert for work that returns");
        let out: Option<()> = guarded_sync("querylog", &bus, || panic!("bad line"));
        assert_eq!(out, None);
        let alert = events.try_recv().expect("an alert");
        assert_eq!(alert.event_type, EventType::HealthAlert);
        assert_eq!(alert.priority, Priority::Critical);
        assert_eq!(alert.data["component"], "querylog");
    }

    #[actix::test]
    async fn a_panicking_round_alerts_and_restarts_the_actor() {
        let bus = EventBus::new(None);
        let mut events = bus.subscribe();
        let (rounds, restarts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, s, b) = (rounds.clone(), restarts.clone(), bus.clone());
        let addr = actix::Supervisor::start(move |_| Flaky {
            busy: false,
            rounds: r,
            restarts: s,
            bus: b,
        });
        addr.do_send(Round);
        let alert = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
            .await
            .expect("an alert within 5 s")
            .unwrap();
        assert_eq!(alert.event_type, EventType::HealthAlert);
        assert_eq!(alert.priority, Priority::Critical);
        assert_eq!(alert.data["component"], "flaky");
        assert_eq!(alert.data["status"], "critical");
        // The restarted actor takes the next round and completes it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while rounds.load(Ordering::SeqCst) < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "no round after the restart"
            );
            addr.do_send(Round);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(restarts.load(Ordering::SeqCst), 1);
    }
}
