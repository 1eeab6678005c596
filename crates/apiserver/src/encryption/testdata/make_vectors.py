#!/usr/bin/env python3
"""Stored values in upstream kube-apiserver's layout, made independently of skiff's code.

aescbc and aesgcm with the `cryptography` package (OpenSSL), secretbox with libsodium's
crypto_secretbox_easy (NaCl's layout: the Poly1305 tag before the ciphertext), called through
ctypes. The layout follows upstream's docs and source: `k8s:enc:<provider>:v1:<key name>:`,
then the IV/nonce, then the sealed data; aesgcm authenticates the storage key.
Run: python3 make_vectors.py   (prints the base64 of each stored value)
"""
import base64
import ctypes
import ctypes.util

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY32 = bytes(range(32))  # base64: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
PLAIN = b'{"kind":"Secret","data":{"k":"dmFsdWU="}}'
STORAGE_KEY = b"/registry/secrets/default/s1"

iv = bytes([0xA0 + i for i in range(16)])
padder = padding.PKCS7(128).padder()
padded = padder.update(PLAIN) + padder.finalize()
enc = Cipher(algorithms.AES(KEY32), modes.CBC(iv)).encryptor()
cbc = b"k8s:enc:aescbc:v1:key1:" + iv + enc.update(padded) + enc.finalize()
print("aescbc", base64.b64encode(cbc).decode())

nonce = bytes([0xB0 + i for i in range(12)])
gcm = b"k8s:enc:aesgcm:v1:key1:" + nonce + AESGCM(KEY32).encrypt(nonce, PLAIN, STORAGE_KEY)
print("aesgcm", base64.b64encode(gcm).decode())

sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert sodium.sodium_init() >= 0
nonce24 = bytes([0xC0 + i for i in range(24)])
out = ctypes.create_string_buffer(len(PLAIN) + 16)
assert sodium.crypto_secretbox_easy(out, PLAIN, ctypes.c_ulonglong(len(PLAIN)), nonce24, KEY32) == 0
box = b"k8s:enc:secretbox:v1:key1:" + nonce24 + out.raw
print("secretbox", base64.b64encode(box).decode())
