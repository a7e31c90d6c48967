#!/bin/sh
set -e
echo "hardening for ${ROLE:-none}"
