//! Generates one test per interop scenario for a store.
#[macro_export]
macro_rules! interop_tests {
    ($setup:path) => {
        $crate::interop_tests!(@each $setup; login_crosses, values_cross, logout_crosses, regenerate_crosses, rotation, remember_me, concurrency);
    };
    (@each $setup:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(reason) = tessera_interop::node::unavailable() {
                    let _ = tessera::testkit::skip::<()>(&reason);
                    return;
                }
                let Some(env) = $setup().await else { return };
                tessera_interop::scenarios::$name(&env.pair).await;
                env.cleanup().await;
            }
        )*
    };
}
