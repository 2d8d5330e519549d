"""National Provider Identifier check digit (CMS NPI standard: Luhn over the prefix 80840 and 9 digits)."""

NPI_PREFIX = "80840"


def npi_problem(npi) -> str | None:
    """Why `npi` is not a valid NPI, or None when it is."""
    text = str(npi)
    if len(text) != 10 or not text.isdigit():
        return f"{text!r} is not 10 digits"
    if _luhn_check_digit(NPI_PREFIX + text[:9]) != int(text[9]):
        return f"{text} fails the NPI check digit (mistyped?)"
    return None


def _luhn_check_digit(digits: str) -> int:
    total = 0
    # Double every second digit from the right of the payload (the check digit's neighbour first).
    for position, char in enumerate(reversed(digits)):
        d = int(char)
        if position % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10
