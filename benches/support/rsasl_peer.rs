//! The same PLAIN, LOGIN and SCRAM-SHA-256 server exchanges through rsasl
//! (base64 included: `step64`), with a callback that answers like the
//! bench-local store: constant-time password compare, stored SCRAM keys.
#![allow(dead_code)]

use std::sync::Arc;

use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::prelude::{Mechname, SASLConfig, SASLServer, SessionError, State};
use rsasl::property::{AuthId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};
use subtle::ConstantTimeEq;

use super::support::{
    encoding_decode, encoding_encode, ScramClient, Store, PASSWORD, SCRAM_CLIENT_FIRST,
    SCRAM_ITERATIONS, SCRAM_SALT, USER,
};

/// The identity the callback validated.
pub struct Identity;

impl Validation for Identity {
    type Value = String;
}

struct Callback {
    password: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl SessionCallback for Callback {
    fn callback(
        &self,
        _session: &SessionData,
        context: &Context,
        request: &mut Request,
    ) -> Result<(), SessionError> {
        if context.get_ref::<AuthId>() == Some(USER) {
            request.satisfy::<ScramStoredPassword>(&ScramStoredPassword::new(
                SCRAM_ITERATIONS,
                SCRAM_SALT,
                &self.stored_key,
                &self.server_key,
            ))?;
        }
        Ok(())
    }

    fn validate(
        &self,
        session: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let Some(authid) = context.get_ref::<AuthId>() else {
            return Ok(());
        };
        let ok = if session.mechanism().mechanism.starts_with("SCRAM-") {
            // The mechanism verified the proof against the stored keys.
            authid == USER
        } else {
            let password = context.get_ref::<Password>().unwrap_or_default();
            let user_ok = authid.as_bytes().ct_eq(USER.as_bytes());
            bool::from(user_ok & password.ct_eq(&self.password))
        };
        if ok {
            validate.with::<Identity, _>(|| Ok(authid.to_owned()))?;
        }
        Ok(())
    }
}

pub struct Peer {
    config: Arc<SASLConfig>,
    plain_ir: Vec<u8>,
    login_user: Vec<u8>,
    login_password: Vec<u8>,
    scram_first: Vec<u8>,
}

fn mech(name: &'static [u8]) -> &'static Mechname {
    Mechname::parse(name).expect("mechanism name")
}

impl Peer {
    pub fn new() -> Self {
        let store = Store::new();
        let config = SASLConfig::builder()
            .with_defaults()
            .with_callback(Callback {
                password: PASSWORD.as_bytes().to_vec(),
                stored_key: store.scram.stored_key().to_vec(),
                server_key: store.scram.server_key().to_vec(),
            })
            .expect("rsasl config");
        Peer {
            config,
            plain_ir: encoding_encode(format!("\0{USER}\0{PASSWORD}").as_bytes()),
            login_user: encoding_encode(USER.as_bytes()),
            login_password: encoding_encode(PASSWORD.as_bytes()),
            scram_first: encoding_encode(SCRAM_CLIENT_FIRST),
        }
    }

    fn finished(
        mut session: rsasl::prelude::Session<Identity>,
        state: Result<State, SessionError>,
    ) -> bool {
        matches!(state, Ok(State::Finished(_))) && session.validation().is_some()
    }

    pub fn plain(&self, out: &mut Vec<u8>) -> bool {
        out.clear();
        let server = SASLServer::<Identity>::new(self.config.clone());
        let mut session = server.start_suggested(mech(b"PLAIN")).expect("PLAIN");
        let state = session.step64(Some(&self.plain_ir), out);
        Self::finished(session, state)
    }

    pub fn login(&self, out: &mut Vec<u8>) -> bool {
        let server = SASLServer::<Identity>::new(self.config.clone());
        let mut session = server.start_suggested(mech(b"LOGIN")).expect("LOGIN");
        out.clear();
        if session.step64(None, out).is_err() {
            return false;
        }
        out.clear();
        if session.step64(Some(&self.login_user), out).is_err() {
            return false;
        }
        out.clear();
        let state = session.step64(Some(&self.login_password), out);
        Self::finished(session, state)
    }

    /// SCRAM-SHA-256; rsasl's server nonce is random, so `client` computes
    /// the client-final from each server-first.
    pub fn scram(&self, client: &ScramClient, out: &mut Vec<u8>) -> bool {
        let server = SASLServer::<Identity>::new(self.config.clone());
        let mut session = server
            .start_suggested(mech(b"SCRAM-SHA-256"))
            .expect("SCRAM-SHA-256");
        out.clear();
        if session.step64(Some(&self.scram_first), out).is_err() {
            return false;
        }
        let server_first = encoding_decode(out);
        let client_final = encoding_encode(&client.client_final(&server_first));
        out.clear();
        let state = session.step64(Some(&client_final), out);
        Self::finished(session, state)
    }
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}
