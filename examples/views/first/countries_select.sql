select country, count(*) as cities
from first.cities
group by country
