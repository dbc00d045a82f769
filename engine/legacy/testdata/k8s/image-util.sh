#!/usr/bin/env bash
# the legacy build script (not imported)
