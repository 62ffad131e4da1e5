#!/usr/bin/env bash
# The book (book/) is built by tests/book.rs with mdbook. Install it only when it is
# missing: there is no Debian package, and `cargo install` takes a few minutes.
# 0.5.4 needs rustc 1.88 or later; only the html renderer and search are needed.
set -euo pipefail
MDBOOK_VERSION=0.5.4
for p in mdbook "${CARGO_HOME:-$HOME/.cargo}/bin/mdbook"; do
  if command -v "$p" >/dev/null 2>&1; then
    echo "mdbook: $("$p" --version)"
    exit 0
  fi
done
echo "== installing mdbook $MDBOOK_VERSION (cargo install, a few minutes)"
cargo install mdbook --locked --version "$MDBOOK_VERSION" --no-default-features --features search
