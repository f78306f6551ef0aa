#!/usr/bin/env bash
# make demo: a fresh demo register in ./demo with synthetic Finnish members,
# then the main job on it. No prompts: the passphrase comes from the
# environment, as it would for a script. Safe to run again (starts over).
set -euo pipefail
cd "$(dirname "$0")/.."

KSS=".venv/bin/kss-panel"
DEMO="demo"

export KSS_PANEL_DB="$DEMO/panel.db"
export KSS_PANEL_POLICIES="policies"
export KSS_PANEL_OFFICER="demo"
export KSS_PANEL_PASSPHRASE="demo passphrase, not for real registers"
unset KSS_PANEL_KEY_FILE KSS_PANEL_NEW_PASSPHRASE


step() { printf '\n== %s\n' "$*"; }
# Echo a command as it would be typed, then run it without stdin (no prompts).
kss() {
    local shown="" arg
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./=:@+,-]+$ ]]; then shown+=" $arg"; else shown+=" '$arg'"; fi
    done
    printf '$ kss-panel%s\n' "$shown"
    "$KSS" "$@" </dev/null
}

# A field of the JSON envelope on the last line of $1 (the command's output).
json_field() {
    .venv/bin/python -c 'import json, sys; print(json.loads(sys.argv[1].splitlines()[-1])["data"][sys.argv[2]])' "$1" "$2"
}

rm -rf "$DEMO"
mkdir -p "$DEMO/members"
chmod 700 "$DEMO"

# Synthetic sample members: invented people, real-format Kymenlaakso
# addresses, postal codes and Finnish mobile numbers.
cat > "$DEMO/members/aino.json" <<'JSON'
{
  "customer_number": "10234567",
  "contact": {"first_name": "Aino", "last_name": "Mäkelä", "email": "aino.makela@example.fi",
              "phone": "+358401234567", "street_address": "Hovioikeudenkatu 3",
              "postal_code": "45100", "city": "Kouvola", "language": "fi"},
  "demographics": {"birth_year": 1978, "gender": "female", "household_size": 3, "dwelling_type": "detached"},
  "electricity": {"annual_consumption_kwh": 18500, "heating": "heat_pump",
                  "has_solar_panels": false, "has_electric_vehicle": true},
  "hobbies": ["sauna", "fishing", "mökkeily"],
  "attitudes": {"environment": 4, "price_sensitivity": 5},
  "consents": {"email_marketing": true, "sms_marketing": false, "marketing_competitions": true, "partner_marketing": true}
}
JSON
cat > "$DEMO/members/veikko.json" <<'JSON'
{
  "customer_number": "10345678",
  "contact": {"first_name": "Veikko", "last_name": "Virtanen", "email": "veikko.virtanen@example.fi",
              "phone": "0402345678", "street_address": "Kymenlaaksonkatu 12 B 7",
              "postal_code": "45700", "city": "Kuusankoski", "language": "fi"},
  "demographics": {"birth_year": 1954, "gender": "male", "household_size": 2, "dwelling_type": "detached"},
  "electricity": {"annual_consumption_kwh": 22000, "heating": "wood",
                  "has_solar_panels": true, "has_electric_vehicle": false},
  "hobbies": ["fishing", "hunting", "mökkeily"],
  "attitudes": {"environment": 3, "price_sensitivity": 4, "local_energy": 5},
  "consents": {"email_marketing": false, "sms_marketing": true, "marketing_competitions": false}
}
JSON
cat > "$DEMO/members/ulla.json" <<'JSON'
{
  "customer_number": "10456789",
  "contact": {"first_name": "Ulla", "last_name": "Lindqvist", "email": "ulla.lindqvist@example.fi",
              "phone": "+358403456789", "street_address": "Kirkkokatu 4 A 2",
              "postal_code": "48100", "city": "Kotka", "language": "sv"},
  "demographics": {"birth_year": 1969, "gender": "female", "household_size": 1, "dwelling_type": "apartment"},
  "electricity": {"annual_consumption_kwh": 3200, "heating": "district",
                  "has_solar_panels": false, "has_electric_vehicle": false},
  "hobbies": ["sailing", "choir", "sauna"],
  "attitudes": {"environment": 5, "price_sensitivity": 3, "digital_services": 4},
  "consents": {"email_marketing": true, "sms_marketing": false, "marketing_competitions": false}
}
JSON
cat > "$DEMO/members/juha.json" <<'JSON'
{
  "customer_number": "10567890",
  "contact": {"first_name": "Juha", "last_name": "Korhonen", "email": "juha.korhonen@example.fi",
              "phone": "+358404567890", "street_address": "Raatihuoneentori 7",
              "postal_code": "49400", "city": "Hamina", "language": "fi"},
  "demographics": {"birth_year": 1985, "gender": "male", "household_size": 4, "dwelling_type": "terraced"},
  "electricity": {"annual_consumption_kwh": 9800, "heating": "electric",
                  "has_solar_panels": false, "has_electric_vehicle": true},
  "hobbies": ["ice hockey", "hiking"],
  "attitudes": {"environment": 3, "price_sensitivity": 5, "digital_services": 5},
  "consents": {"email_marketing": true, "sms_marketing": true, "marketing_competitions": false}
}
JSON
cat > "$DEMO/members/liisa.json" <<'JSON'
{
  "customer_number": "10678901",
  "contact": {"first_name": "Liisa", "last_name": "Heikkinen-Nieminen", "email": "liisa.heikkinen@example.fi",
              "phone": "+358405678901", "street_address": "Valtakatu 21 C 14",
              "postal_code": "45100", "city": "Kouvola", "language": "fi"},
  "demographics": {"birth_year": 1992, "gender": "female", "household_size": 2, "dwelling_type": "apartment"},
  "electricity": {"annual_consumption_kwh": 2600, "heating": "district",
                  "has_solar_panels": false, "has_electric_vehicle": false},
  "hobbies": ["hiking", "berry picking", "sauna"],
  "attitudes": {"environment": 5, "price_sensitivity": 4, "local_energy": 4},
  "consents": {"email_marketing": false, "sms_marketing": false, "marketing_competitions": false}
}
JSON
cat > "$DEMO/members/eero.json" <<'JSON'
{
  "customer_number": "10789012",
  "contact": {"first_name": "Eero", "last_name": "Hämäläinen", "email": "eero.hamalainen@example.fi",
              "phone": "+358406789012", "street_address": "Keskuskatu 9",
              "postal_code": "48100", "city": "Kotka", "language": "fi"},
  "demographics": {"birth_year": 1961, "gender": "male", "household_size": 2, "dwelling_type": "semi_detached"},
  "electricity": {"annual_consumption_kwh": 14000, "heating": "geothermal",
                  "has_solar_panels": true, "has_electric_vehicle": true},
  "hobbies": ["cross-country skiing", "sauna", "mökkeily"],
  "attitudes": {"environment": 4, "price_sensitivity": 2, "local_energy": 5, "digital_services": 3},
  "consents": {"email_marketing": true, "sms_marketing": false, "marketing_competitions": true, "partner_marketing": true}
}
JSON
cat > "$DEMO/members/sanna.json" <<'JSON'
{
  "customer_number": "10890123",
  "contact": {"first_name": "Sanna", "last_name": "Lahtinen", "email": "sanna.lahtinen@example.fi",
              "phone": "+358407890123", "street_address": "Satamakatu 2 A 5",
              "postal_code": "49400", "city": "Hamina", "language": "en"},
  "demographics": {"birth_year": 2001, "gender": "undisclosed", "household_size": 1, "dwelling_type": "apartment"},
  "electricity": {"annual_consumption_kwh": 1900, "heating": "district",
                  "has_solar_panels": false, "has_electric_vehicle": false},
  "hobbies": ["climbing", "board games"],
  "attitudes": {"environment": 5, "price_sensitivity": 5, "digital_services": 5},
  "consents": {"email_marketing": false, "sms_marketing": false, "marketing_competitions": false}
}
JSON

step "Create the register (Argon2id tuned to about 0.5 s per unlock)"
kss init --unlock-time 0.5 --officer demo

step "Enrol seven sample applicants (each prints its new member id)"
# Each id goes into a variable id_NAME (bash 3 has no associative arrays).
for file in "$DEMO"/members/*.json; do
    name=$(basename "$file" .json)
    printf '$ kss-panel enrol --file %s\n' "$file"
    member_id=$("$KSS" enrol --file "$file" </dev/null)
    printf -v "id_$name" '%s' "$member_id"
    echo "$member_id"
done

step "List members with their names (decrypts names; audited)"
kss list --names

step "Show one member's record (audited: who read which fields)"
kss show "$id_aino"

step "Find a member by email, as a script would (keyed hash; decrypts no one)"
found=$(kss find --email Ulla.Lindqvist@example.fi --json)
echo "$found"
ulla_id=$(json_field "$found" member_id)

step "Rectify a record: Ulla moved to Kouvola"
kss update "$ulla_id" --set contact.street_address="Salpausselänkatu 30" --set contact.postal_code=45100 --set contact.city=Kouvola

step "Admit applicants who are KSS Energia customers (roster: a CSV export)"
cat > "$DEMO/customers.csv" <<'CSV'
customer_number;name_in_billing_system
10234567;Mäkelä Aino
10345678;Virtanen Veikko
10456789;Lindqvist Ulla
10567890;Korhonen Juha
10789012;Hämäläinen Eero
CSV
for id in "$id_aino" "$id_veikko" "$id_ulla" "$id_eero"; do
    kss admit "$id" --customers "$DEMO/customers.csv"
done
status=0
kss admit "$id_sanna" --customers "$DEMO/customers.csv" 2>&1 || status=$?
[ "$status" -eq 9 ] || { echo "unexpected: exit code $status, expected 9 (refused by policy)" >&2; exit 1; }
echo "(exit code 9: refused by policy)"
kss reject "$id_sanna" --reason not-a-customer
kss list --status member

step "Data-subject requests: Veikko asks for his data (Art. 15), Liisa to be erased (Art. 17)"
opened=$(kss request open --type access --member "$id_veikko" --json)
echo "$opened"
access_request=$(json_field "$opened" id)
kss export access --email veikko.virtanen@example.fi --out "$DEMO/exports" --request "$access_request"
kss consent "$id_eero" --object
opened=$(kss request open --type erasure --member "$id_liisa" --json)
echo "$opened"
kss erase "$id_liisa" --reason request --request "$(json_field "$opened" id)"
kss request list

step "The panel's own work: a survey sampled inside the register, its answers, a prize draw"
kss survey create kevat-2026 --title "Kevät 2026: lämmitys ja sähkön hinta"
kss survey sample kevat-2026 --size 4 --strata demographics.gender --seed demo
kss survey sample kevat-2026 --size 4 --strata demographics.gender --seed demo --allow-short --apply --out "$DEMO/kutsut.csv"
# The processor's return file: who answered (here, everyone invited, today).
{ echo "member_id,completed_on"; tail -n +2 "$DEMO/kutsut.csv" | cut -d, -f2 | sed 's/$/,/'; } > "$DEMO/vastaukset.csv"
kss survey responses kevat-2026 "$DEMO/vastaukset.csv"
kss draw commit kevat-2026
kss draw run kevat-2026 --prizes 1
kss draw verify kevat-2026
kss survey show kevat-2026

step "Disclose to the direct-marketing processor; a rectification then owes it a notification (Art. 19)"
kss export disclosure direct-marketing --purpose marketing --out "$DEMO/exports/mailing.csv"
kss update "$id_aino" --set contact.street_address="Kauppamiehenkatu 5" --set contact.city=Kouvola
kss notify list
kss notify export direct-marketing --out "$DEMO/exports/notifications-direct-marketing.json"

step "Consent receipts (Art. 7(1)): a withdrawal is a receipt; who holds a consent under wording changed since"
kss consent "$id_aino" --withdraw partner_marketing
kss list --consent-outdated email_marketing

step "Data portability (Art. 20): the data Ulla provided, as JSON and CSV"
kss export portable "$ulla_id" --out "$DEMO/exports"

step "A personal-data breach: the mailing list exposed at the processor; the 72-hour clock runs"
discovered=$(.venv/bin/python -c 'import datetime, zoneinfo; print((datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Helsinki")) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))')
kss breach open --title "Mailing list exposed at the direct-marketing processor" --discovered "$discovered"
kss breach affected 1 --file "$DEMO/exports/mailing.csv"
kss breach list
kss breach notify-members 1 --out "$DEMO/exports/breach-1-members.csv"
kss breach close 1 --notified-authority "$(.venv/bin/python -c 'import datetime, zoneinfo; print(datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Helsinki")).date())')"

step "Back up the register (still encrypted)"
kss backup "$DEMO/panel-backup.db"

step "Add a machine key slot for the nightly purge (purger role: cannot decrypt personal data)"
kss officer add cron --role purger --key-file "$DEMO/cron.key"
kss officer list

step "What the purger slot may not do"
status=0
kss show "$id_aino" --key-file "$DEMO/cron.key" 2>&1 || status=$?
if [ "$status" -ne 3 ]; then
    echo "unexpected: exit code $status, expected 3 (role not allowed)" >&2
    exit 1
fi
echo "(exit code 3: role not allowed)"

step "The nightly purge with the purger key file: a dry run today, then a plan 100 days ahead"
kss purge --key-file "$DEMO/cron.key"
later=$(.venv/bin/python -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=100))')
kss purge --key-file "$DEMO/cron.key" --as-of "$later"

step "Publish the privacy notice and the record of processing activities (from the policies alone; no register needed)"
kss notice --lang fi --format html --out "$DEMO/tietosuojaseloste.html" 2>&1
kss notice --lang sv --format html --out "$DEMO/dataskyddsbeskrivning.html" 2>&1
kss notice --record --lang fi --format html --out "$DEMO/seloste-kasittelytoimista.html" 2>&1

step "Rotate the register's keys (every member re-keyed, the keys granted again to every slot)"
kss key rotate

step "The audit trail: who did what, to which fields; never values"
kss audit log

step "Verify the audit trail: the chain, every command's signature, every row against it"
kss audit verify

step "The audit head, to keep outside the register file"
kss audit head
"$KSS" audit head </dev/null > "$DEMO/audit.head"

step "Verify against that head with no key or passphrase at all (as an auditor, or cron, would)"
env -u KSS_PANEL_OFFICER -u KSS_PANEL_PASSPHRASE "$KSS" audit verify --head "$(cat "$DEMO/audit.head")" </dev/null

step "Done"
echo "The demo register is $KSS_PANEL_DB. To explore it:"
echo "  export KSS_PANEL_DB=$KSS_PANEL_DB KSS_PANEL_OFFICER=$KSS_PANEL_OFFICER KSS_PANEL_PASSPHRASE='$KSS_PANEL_PASSPHRASE'"
echo "  .venv/bin/kss-panel --help"
