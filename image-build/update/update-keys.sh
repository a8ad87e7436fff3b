#!/bin/bash
# Make the update keys of a line of appliances, once: a CA whose certificate goes into
# the image as RAUC's keyring (/etc/rauc/keyring.pem) and a signing key + certificate
# (issued by that CA) that signs every bundle. The CA is for updates only; the signing
# certificate has no extended key use, so RAUC's default purpose check (OpenSSL's
# S/MIME signing) accepts it on the box and while bundling.
#
#   image-build/update/update-keys.sh DIR
#
# DIR gets ca.cert.pem (the keyring), ca.key.pem, signing.key.pem, signing.cert.pem.
# Keep DIR off the repository and off the appliance: whoever has signing.key.pem can
# put any system on every box. A rotated signing key needs no new image (the keyring
# is the CA); a lost CA key does. Existing keys are never overwritten.
set -euo pipefail

dir="${1:?usage: update-keys.sh DIR}"
name="${ZENTRALE_UPDATE_ORG:-Zentrale}"
days="${ZENTRALE_UPDATE_DAYS:-7300}" # 20 years: a box may stay on a shelf a long time
if [ -e "${dir}/signing.key.pem" ]; then
	echo "update-keys: ${dir} has keys already; nothing changed" >&2
	exit 0
fi
mkdir -p "${dir}"
chmod 700 "${dir}"
cd "${dir}"
# EC P-256 (RAUC signs CMS with whatever OpenSSL can; P-256 is small and fast to check on a Pi)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "${days}" \
	-subj "/O=${name}/CN=${name} update CA" -keyout ca.key.pem -out ca.cert.pem \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=${name}/CN=${name} update signing" \
	-keyout signing.key.pem -out signing.csr.pem 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" >signing.ext
openssl x509 -req -in signing.csr.pem -CA ca.cert.pem -CAkey ca.key.pem -CAcreateserial -days "${days}" \
	-extfile signing.ext -out signing.cert.pem 2>/dev/null
rm -f signing.csr.pem signing.ext
chmod 600 ./*.key.pem
echo "update-keys: made ${dir}/ca.cert.pem (the image's keyring) and the signing key"
