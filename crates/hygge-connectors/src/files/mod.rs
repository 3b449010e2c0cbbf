//! Local files: the `parquet` and `local` homes (`home/`) and stores (`store/`), read and
//! written with the encoders of [`crate::format`].

pub mod home;
pub mod store;
