"""Reads a backup's contacts.vcf with two independent parsers from PyPI:

- `vcard` (1.0.0), a strict RFC 2426 validator: it refuses `CHARSET`, TEL types outside the
  RFC's list, property groups on some lines only, parameters on properties that take none;
- `vobject`, the lenient reader most Python tools use.

RFC 2426's grammar is octet-based (NON-ASCII = %x80-FF, lines folded at 75 octets); the
validator checks a decoded str against the Latin-1 range only, so it would refuse "ż" in a
name, which the RFC allows as the octets C5 BC. Its character classes are widened here to
every non-ASCII character, which is what the octet grammar means for UTF-8 text; nothing
else in it is changed. Line length is checked here, in octets.

RFC 2426's grammar lists `x-name` among the TYPE values of TEL (3.3.1), EMAIL (3.3.2) and ADR
(3.2.1); the validator checks those TYPEs against a closed list and refuses `TYPE=X-Babcia`,
the form of a custom label Android's importer reads back (docs/backup-format.md). A TYPE
value on those three is let through when the validator's own `validate_x_name` accepts it;
every other value is checked as before.

Usage: check_vcards.py FILE EXPECTED_COUNT
"""
import re
import sys
import warnings

import vcard.vcard_definitions as definitions
import vcard.vcard_validator as validator
import vcard.vcard_validators as validators
import vobject

NON_ASCII = "\x80-\U0010ffff"


def widen():
    """The validator's character classes, with every non-ASCII character added where its
    NON-ASCII (Latin-1 only) stood; the regexes compiled at import are compiled again."""
    for module in (validator, validators):
        for name in ("SAFE_REGEX_CHARACTERS", "QUOTE_SAFE_REGEX_CHARACTERS", "REGEX_VALUE_CHARACTERS"):
            if hasattr(module, name):
                setattr(module, name, getattr(module, name) + NON_ASCII)
    safe = validators.SAFE_REGEX_CHARACTERS
    validators.VALID_PRESENTATION_TEXT = re.compile(f"^[{safe}]*$")
    validators.VALID_TEXT = re.compile(
        f'^([{safe}:"]|(\\\\[{definitions.REGEX_ESCAPED_CHARACTERS}]))*$'
    )


def accept_x_name_types():
    """TEL, EMAIL and ADR with their x-name TYPE values (checked by `validate_x_name`, which
    raises on anything else) taken out before the validator's own check of the rest."""
    for name in ("handle_tel", "handle_email", "handle_adr"):
        original = getattr(validators, name)

        def handle(property_, original=original):
            params = property_.parameters or {}
            for key in [k for k in params if k.upper() == "TYPE"]:
                x_names = {v for v in params[key] if v[:2].upper() == "X-"}
                for value in x_names:
                    validators.validate_x_name(value)
                params[key] = set(params[key]) - x_names
                if not params[key]:
                    del params[key]
            original(property_)

        setattr(validators, name, handle)


def main(path, expected):
    widen()
    accept_x_name_types()
    # Every warning the validator raises (a redundant default TYPE, say) fails, except
    # "Short folded line": RFC 2425 §5.8.1 lets a line be folded anywhere between two
    # characters, and the validator counts characters where the RFC's 75 are octets.
    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", message="Short folded line")
    # "Possible split name": a guess that "Anna Maria" in N meant two names; people's
    # names have spaces, and RFC 2426 allows them.
    warnings.filterwarnings("ignore", message="Possible split name")
    # The check can fail: what issue 18 found in older archives is still refused.
    for bad in (
        "FN;CHARSET=UTF-8:Zoë",
        "TEL;TYPE=MAIN-NUMBER:+48 1",
        "item1.TEL:+48 1",
        "TEL;TYPE=X-:+48 1",
        "TEL;TYPE=x-babcia:+48 1",
        "TEL;TYPE=X-Babcia Zosia:+48 1",
        "ADR;TYPE=X-Dacza,nowhere:;;Polna 2;;;;",
    ):
        card = f"BEGIN:VCARD\r\nVERSION:3.0\r\nN:A;;;;\r\nFN:A\r\n{bad}\r\nEND:VCARD\r\n"
        try:
            validator.VCard(card)
        except (validator.VCardError, UserWarning):
            continue
        sys.exit(f"the validator accepts {bad!r}: it is not strict")
    with open(path, "rb") as f:
        raw = f.read()
    for number, line in enumerate(raw.split(b"\r\n"), 1):
        if len(line) > 75:
            sys.exit(f"line {number}: {len(line)} octets, RFC 2426 folds at 75")
    text = raw.decode("utf-8")
    cards = re.findall(r"BEGIN:VCARD\r\n.*?END:VCARD\r\n", text, re.S)
    if len(cards) != expected:
        sys.exit(f"{len(cards)} cards, expected {expected}")
    for index, card in enumerate(cards, 1):
        try:
            validator.VCard(card, path)
        except (validator.VCardError, UserWarning) as error:
            sys.exit(f"card {index} refused by the strict RFC 2426 validator: {error}")
    read = list(vobject.readComponents(text))
    if len(read) != expected or any(not hasattr(c, "fn") for c in read):
        sys.exit(f"vobject read {len(read)} cards, expected {expected}")
    tels = sum(len(c.contents.get("tel", [])) for c in read)
    print(f"strict RFC 2426 validator (PyPI vcard): {expected} of {expected} cards accepted")
    print(f"vobject: {len(read)} of {expected} cards read ({tels} phone numbers)")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
