//! The fan-out dashboard's binary (`/`); see the library for the layout.

fn main() {
    fanout_frontend::dashboard();
}
