"""vtaref: a formal-verification-centric reference implementation of the VTA accelerator."""
