#!/bin/sh
exec rpc.nfsd
