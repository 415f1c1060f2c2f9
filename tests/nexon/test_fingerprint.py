import hashlib

from maplecollect.nexon.fingerprint import api_key_fingerprint, is_fingerprint


def test_fingerprint_is_a_sha256_prefix_and_recognisable() -> None:
    fp = api_key_fingerprint("live_abc")
    assert fp == hashlib.sha256(b"live_abc").hexdigest()[:16]
    assert is_fingerprint(fp)
    assert not is_fingerprint("test_SECRET_d3adb33f_APIKEY_zq9x")
    assert not is_fingerprint("live_abc")
