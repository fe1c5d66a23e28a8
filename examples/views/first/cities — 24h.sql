select city, country
from first.cities_raw
