//! The load-test page's binary (`/?mode=load`).

fn main() {
    fanout_frontend::load_test();
}
