//! The parts of the bounce service that other programs share: the bounce
//! templates (`bounce_template_file`, bounce(5)), which `postconf -b` and
//! `postconf -t` show.

pub mod template;
