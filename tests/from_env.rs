//! `Client::from_env` reads AELYST_API_TOKEN and AELYST_BASE_URL.
//!
//! One test function, because the environment is shared by every thread of the process.

use aelyst::error::ConfigErrorKind;
use aelyst::{Client, Error};

fn config_kind(result: Result<Client, Error>) -> ConfigErrorKind {
    match result {
        Err(Error::InvalidConfig(config)) => config.kind(),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn reads_token_and_optional_base_url_from_the_environment() {
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe {
        std::env::remove_var("AELYST_API_TOKEN");
        std::env::remove_var("AELYST_BASE_URL");
    }
    assert_eq!(
        config_kind(Client::from_env()),
        ConfigErrorKind::MissingToken
    );

    unsafe { std::env::set_var("AELYST_API_TOKEN", "env-token") };
    assert_eq!(
        Client::from_env().unwrap().base_url(),
        "https://api.aelyst.ai/v1"
    );

    unsafe { std::env::set_var("AELYST_BASE_URL", "http://127.0.0.1:9/v1") };
    assert_eq!(
        Client::from_env().unwrap().base_url(),
        "http://127.0.0.1:9/v1"
    );

    unsafe { std::env::set_var("AELYST_BASE_URL", "http://example.com/v1") };
    assert_eq!(
        config_kind(Client::from_env()),
        ConfigErrorKind::InsecureBaseUrl
    );

    unsafe { std::env::set_var("AELYST_API_TOKEN", "env-token\n") };
    assert_eq!(
        config_kind(Client::from_env()),
        ConfigErrorKind::InvalidToken
    );
}
