"""Python processor for first.countries: called as `python3 countries.py IN.csv OUT.csv`.

Reads the rows of countries_select.sql and writes the rows of the table declared
in 'countries — 1h.sql', adding a size class to each country.
"""
import csv
import sys


def size_class(cities: int) -> str:
    if cities >= 20:
        return "large"
    if cities >= 5:
        return "medium"
    return "small"


def main(src: str, dst: str) -> None:
    with open(src, newline="") as fin, open(dst, "w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.writer(fout)
        writer.writerow(["country", "cities", "size_class"])
        for row in reader:
            cities = int(row["cities"])
            writer.writerow([row["country"], cities, size_class(cities)])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
