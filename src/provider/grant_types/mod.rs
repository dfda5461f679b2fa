//! One file per OAuth grant type the token endpoint accepts.

pub mod authorization_code;
pub mod refresh_token;
