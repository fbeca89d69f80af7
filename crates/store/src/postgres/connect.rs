//! How the pool opens its connections: on the runtime the store was opened on, whoever
//! asks for one.
//!
//! A tokio-postgres connection is a socket and a task that drives it, both bound to the
//! runtime they were made on. The service runs its lanes on a runtime of their own whose
//! threads run at a lower CPU priority (`server/src/delivery_runtime.rs`); a connection
//! first opened by a lane's call would be driven by those threads, and every API request
//! that later borrowed it from the pool would wait on them when the CPU is short. So the
//! pool opens and drives every connection on the store's own runtime.

use deadpool_postgres::Connect;
use futures::future::BoxFuture;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, Error, NoTls};

/// A [`Connect`] that opens and drives connections on one runtime.
pub(super) struct OnRuntime {
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    /// Connections on the runtime of the caller. Must be called inside a tokio runtime.
    pub(super) fn current() -> OnRuntime {
        OnRuntime {
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl Connect for OnRuntime {
    fn connect(&self, config: &Config) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), Error>> {
        let config = config.clone();
        Box::pin(async move {
            let (opened, client) = oneshot::channel();
            let driver = self.runtime.spawn(async move {
                match config.connect(NoTls).await {
                    Ok((client, connection)) => {
                        // Nobody waits for it any more (the pool gave up): it closes here.
                        if opened.send(Ok(client)).is_ok()
                            && let Err(error) = connection.await
                        {
                            tracing::warn!(%error, "a PostgreSQL connection failed");
                        }
                    }
                    Err(error) => drop(opened.send(Err(error))),
                }
            });
            match client.await {
                Ok(client) => client.map(|client| (client, driver)),
                // The runtime is shutting down and dropped the task: no connection comes,
                // and the pool's create timeout answers the caller.
                Err(_) => std::future::pending().await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection opened from another runtime's thread is driven on the store's: it
    /// keeps answering after that other runtime is gone.
    #[tokio::test]
    async fn a_connection_opened_from_another_runtime_lives_on_this_one() {
        let url = super::super::test_database::url();
        let config: Config = url.parse().unwrap();
        let connect = std::sync::Arc::new(OnRuntime::current());
        let other = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let opened = {
            let connect = connect.clone();
            other.spawn(async move { connect.connect(&config).await })
        };
        let opened = opened.await.unwrap();
        other.shutdown_background();
        let (client, _driver) = match opened {
            Ok(opened) => opened,
            Err(error) => return super::super::test_database::unreachable(&url, &error),
        };
        let row = client.query_one("SELECT 1::INT4", &[]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 1);
    }
}
