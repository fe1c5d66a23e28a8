select c.city, c.country, length(c.city) as letters
from first.cities c
