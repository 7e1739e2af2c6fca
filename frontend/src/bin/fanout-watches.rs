//! The watches page's binary (`/?mode=watches`).

fn main() {
    fanout_frontend::watches();
}
