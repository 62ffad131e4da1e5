//! Where the container's files come from, and the rootfs directory that holds them.

pub mod docker;
pub mod extract;
pub mod host;
pub mod layers;
pub mod oci;
pub mod root;
pub mod source;
pub mod summary;
pub mod tarball;
pub mod temp;

pub use root::{Added, Rootfs};
pub use source::Source;
pub use summary::summary;
pub use temp::{create_temp, remove_tree, remove_tree_as, temp_path, tmpdir};
