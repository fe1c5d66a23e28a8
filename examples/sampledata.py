"""Sample warehouse data for the example repository (examples/views): the raw tables its views
read, the roles its grants name and a service account that can build the views.

    load(conn)        creates everything in the connection's database (psycopg 3, any mode)
    script()          the same as one SQL script (PostgreSQL), for psql or a container's initdb

Deterministic: the same rows every time, no randomness. Paris is the only city whose country is
France (first/cities_test.sql requires every French city to be Paris). Roles are cluster-wide,
so creating them tolerates their existing already; tables are dropped and created again, so
loading twice into one database works. From the command line:

    python3 sampledata.py "host=127.0.0.1 port=5432 dbname=demo user=postgres"
    python3 sampledata.py --sql --login > sampledata.sql

examples/sampledata.sql is the output of the second command (the reader roles may log in).
Standard library only, plus psycopg to load into a database.
"""

import sys

# The roles examples/views grants SELECT to, and the account Duro builds the views with.
READER_ROLES = ("jane", "john", "joan", "metabase")
SERVICE_USER = "duro"
SCHEMAS = ("first", "second", "finances")

# (city, country): real cities, one country each, no city name twice.
CITIES = [
    ("Paris", "France"),
    # Europe
    ("London", "United Kingdom"), ("Manchester", "United Kingdom"), ("Edinburgh", "United Kingdom"),
    ("Glasgow", "United Kingdom"), ("Liverpool", "United Kingdom"), ("Leeds", "United Kingdom"),
    ("Bristol", "United Kingdom"), ("Cardiff", "United Kingdom"), ("Belfast", "United Kingdom"),
    ("Dublin", "Ireland"), ("Cork", "Ireland"), ("Galway", "Ireland"),
    ("Berlin", "Germany"), ("Hamburg", "Germany"), ("Munich", "Germany"), ("Cologne", "Germany"),
    ("Frankfurt", "Germany"), ("Stuttgart", "Germany"), ("Dusseldorf", "Germany"),
    ("Leipzig", "Germany"), ("Dresden", "Germany"), ("Hanover", "Germany"),
    ("Nuremberg", "Germany"), ("Bremen", "Germany"), ("Bonn", "Germany"),
    ("Madrid", "Spain"), ("Barcelona", "Spain"), ("Seville", "Spain"), ("Zaragoza", "Spain"),
    ("Malaga", "Spain"), ("Bilbao", "Spain"), ("Granada", "Spain"), ("Alicante", "Spain"),
    ("Lisbon", "Portugal"), ("Porto", "Portugal"), ("Coimbra", "Portugal"), ("Braga", "Portugal"),
    ("Rome", "Italy"), ("Milan", "Italy"), ("Naples", "Italy"), ("Turin", "Italy"),
    ("Palermo", "Italy"), ("Genoa", "Italy"), ("Bologna", "Italy"), ("Florence", "Italy"),
    ("Venice", "Italy"), ("Verona", "Italy"), ("Bari", "Italy"),
    ("Amsterdam", "Netherlands"), ("Rotterdam", "Netherlands"), ("The Hague", "Netherlands"),
    ("Utrecht", "Netherlands"), ("Eindhoven", "Netherlands"), ("Groningen", "Netherlands"),
    ("Brussels", "Belgium"), ("Antwerp", "Belgium"), ("Ghent", "Belgium"), ("Liege", "Belgium"),
    ("Bruges", "Belgium"), ("Luxembourg", "Luxembourg"),
    ("Zurich", "Switzerland"), ("Geneva", "Switzerland"), ("Basel", "Switzerland"),
    ("Bern", "Switzerland"), ("Lausanne", "Switzerland"),
    ("Vienna", "Austria"), ("Graz", "Austria"), ("Linz", "Austria"), ("Salzburg", "Austria"),
    ("Innsbruck", "Austria"),
    ("Copenhagen", "Denmark"), ("Aarhus", "Denmark"), ("Odense", "Denmark"),
    ("Stockholm", "Sweden"), ("Gothenburg", "Sweden"), ("Malmo", "Sweden"), ("Uppsala", "Sweden"),
    ("Oslo", "Norway"), ("Bergen", "Norway"), ("Trondheim", "Norway"), ("Stavanger", "Norway"),
    ("Helsinki", "Finland"), ("Espoo", "Finland"), ("Tampere", "Finland"), ("Turku", "Finland"),
    ("Reykjavik", "Iceland"),
    ("Warsaw", "Poland"), ("Krakow", "Poland"), ("Lodz", "Poland"), ("Wroclaw", "Poland"),
    ("Poznan", "Poland"), ("Gdansk", "Poland"), ("Szczecin", "Poland"),
    ("Prague", "Czechia"), ("Brno", "Czechia"), ("Ostrava", "Czechia"),
    ("Bratislava", "Slovakia"), ("Kosice", "Slovakia"),
    ("Budapest", "Hungary"), ("Debrecen", "Hungary"), ("Szeged", "Hungary"),
    ("Bucharest", "Romania"), ("Cluj-Napoca", "Romania"), ("Timisoara", "Romania"),
    ("Iasi", "Romania"),
    ("Sofia", "Bulgaria"), ("Plovdiv", "Bulgaria"), ("Varna", "Bulgaria"),
    ("Athens", "Greece"), ("Thessaloniki", "Greece"), ("Patras", "Greece"),
    ("Belgrade", "Serbia"), ("Novi Sad", "Serbia"), ("Zagreb", "Croatia"), ("Split", "Croatia"),
    ("Ljubljana", "Slovenia"), ("Sarajevo", "Bosnia and Herzegovina"),
    ("Skopje", "North Macedonia"),
    ("Tirana", "Albania"), ("Podgorica", "Montenegro"),
    ("Vilnius", "Lithuania"), ("Kaunas", "Lithuania"), ("Riga", "Latvia"), ("Tallinn", "Estonia"),
    ("Kyiv", "Ukraine"), ("Kharkiv", "Ukraine"), ("Odesa", "Ukraine"), ("Lviv", "Ukraine"),
    ("Minsk", "Belarus"), ("Chisinau", "Moldova"),
    ("Moscow", "Russia"), ("Saint Petersburg", "Russia"), ("Novosibirsk", "Russia"),
    ("Yekaterinburg", "Russia"), ("Kazan", "Russia"), ("Vladivostok", "Russia"),
    ("Istanbul", "Turkey"), ("Ankara", "Turkey"), ("Izmir", "Turkey"), ("Bursa", "Turkey"),
    ("Antalya", "Turkey"),
    ("Valletta", "Malta"), ("Nicosia", "Cyprus"),
    # Americas
    ("New York", "United States"), ("Los Angeles", "United States"), ("Chicago", "United States"),
    ("Houston", "United States"), ("Phoenix", "United States"), ("Philadelphia", "United States"),
    ("San Antonio", "United States"), ("San Diego", "United States"), ("Dallas", "United States"),
    ("Austin", "United States"), ("Seattle", "United States"), ("Denver", "United States"),
    ("Boston", "United States"), ("Detroit", "United States"), ("Nashville", "United States"),
    ("Memphis", "United States"), ("Baltimore", "United States"), ("Milwaukee", "United States"),
    ("Atlanta", "United States"), ("Miami", "United States"), ("Minneapolis", "United States"),
    ("New Orleans", "United States"), ("Pittsburgh", "United States"),
    ("San Francisco", "United States"), ("Las Vegas", "United States"),
    ("Salt Lake City", "United States"), ("Honolulu", "United States"),
    ("Anchorage", "United States"),
    ("Toronto", "Canada"), ("Montreal", "Canada"), ("Vancouver", "Canada"), ("Calgary", "Canada"),
    ("Edmonton", "Canada"), ("Ottawa", "Canada"), ("Winnipeg", "Canada"),
    ("Quebec City", "Canada"), ("Halifax", "Canada"),
    ("Mexico City", "Mexico"), ("Guadalajara", "Mexico"), ("Monterrey", "Mexico"),
    ("Puebla", "Mexico"), ("Tijuana", "Mexico"), ("Cancun", "Mexico"), ("Merida", "Mexico"),
    ("Guatemala City", "Guatemala"), ("San Salvador", "El Salvador"),
    ("Tegucigalpa", "Honduras"), ("Managua", "Nicaragua"), ("Panama City", "Panama"),
    ("Havana", "Cuba"), ("Santo Domingo", "Dominican Republic"), ("Kingston", "Jamaica"),
    ("San Juan", "Puerto Rico"),
    ("Bogota", "Colombia"), ("Medellin", "Colombia"), ("Cali", "Colombia"),
    ("Barranquilla", "Colombia"), ("Cartagena", "Colombia"),
    ("Caracas", "Venezuela"), ("Maracaibo", "Venezuela"), ("Quito", "Ecuador"),
    ("Guayaquil", "Ecuador"), ("Lima", "Peru"), ("Arequipa", "Peru"), ("Cusco", "Peru"),
    ("La Paz", "Bolivia"), ("Santa Cruz de la Sierra", "Bolivia"),
    ("Santiago", "Chile"), ("Valparaiso", "Chile"), ("Concepcion", "Chile"),
    ("Buenos Aires", "Argentina"), ("Rosario", "Argentina"), ("Mendoza", "Argentina"),
    ("La Plata", "Argentina"), ("Montevideo", "Uruguay"), ("Asuncion", "Paraguay"),
    ("Sao Paulo", "Brazil"), ("Rio de Janeiro", "Brazil"), ("Brasilia", "Brazil"),
    ("Salvador", "Brazil"), ("Fortaleza", "Brazil"), ("Belo Horizonte", "Brazil"),
    ("Manaus", "Brazil"), ("Curitiba", "Brazil"), ("Recife", "Brazil"), ("Porto Alegre", "Brazil"),
    # Africa
    ("Cairo", "Egypt"), ("Alexandria", "Egypt"), ("Giza", "Egypt"), ("Luxor", "Egypt"),
    ("Casablanca", "Morocco"), ("Rabat", "Morocco"), ("Marrakesh", "Morocco"), ("Fez", "Morocco"),
    ("Tangier", "Morocco"), ("Algiers", "Algeria"), ("Oran", "Algeria"), ("Tunis", "Tunisia"),
    ("Tripoli", "Libya"), ("Khartoum", "Sudan"), ("Addis Ababa", "Ethiopia"),
    ("Nairobi", "Kenya"), ("Mombasa", "Kenya"), ("Kampala", "Uganda"), ("Kigali", "Rwanda"),
    ("Dar es Salaam", "Tanzania"), ("Dodoma", "Tanzania"), ("Zanzibar City", "Tanzania"),
    ("Lagos", "Nigeria"), ("Abuja", "Nigeria"), ("Kano", "Nigeria"), ("Ibadan", "Nigeria"),
    ("Accra", "Ghana"), ("Kumasi", "Ghana"), ("Dakar", "Senegal"), ("Abidjan", "Ivory Coast"),
    ("Bamako", "Mali"), ("Ouagadougou", "Burkina Faso"), ("Niamey", "Niger"),
    ("Kinshasa", "DR Congo"), ("Lubumbashi", "DR Congo"), ("Brazzaville", "Congo"),
    ("Luanda", "Angola"), ("Lusaka", "Zambia"), ("Harare", "Zimbabwe"), ("Maputo", "Mozambique"),
    ("Antananarivo", "Madagascar"), ("Windhoek", "Namibia"), ("Gaborone", "Botswana"),
    ("Johannesburg", "South Africa"), ("Cape Town", "South Africa"), ("Durban", "South Africa"),
    ("Pretoria", "South Africa"), ("Port Elizabeth", "South Africa"),
    # Asia
    ("Tokyo", "Japan"), ("Osaka", "Japan"), ("Yokohama", "Japan"), ("Nagoya", "Japan"),
    ("Sapporo", "Japan"), ("Fukuoka", "Japan"), ("Kobe", "Japan"), ("Kyoto", "Japan"),
    ("Hiroshima", "Japan"), ("Sendai", "Japan"),
    ("Seoul", "South Korea"), ("Busan", "South Korea"), ("Incheon", "South Korea"),
    ("Daegu", "South Korea"), ("Pyongyang", "North Korea"),
    ("Beijing", "China"), ("Shanghai", "China"), ("Guangzhou", "China"), ("Shenzhen", "China"),
    ("Chengdu", "China"), ("Chongqing", "China"), ("Wuhan", "China"), ("Xi'an", "China"),
    ("Hangzhou", "China"), ("Nanjing", "China"), ("Tianjin", "China"), ("Harbin", "China"),
    ("Hong Kong", "China"), ("Taipei", "Taiwan"), ("Kaohsiung", "Taiwan"),
    ("Ulaanbaatar", "Mongolia"),
    ("Mumbai", "India"), ("Delhi", "India"), ("Bangalore", "India"), ("Hyderabad", "India"),
    ("Chennai", "India"), ("Kolkata", "India"), ("Ahmedabad", "India"), ("Pune", "India"),
    ("Jaipur", "India"), ("Lucknow", "India"), ("Surat", "India"), ("Kochi", "India"),
    ("Karachi", "Pakistan"), ("Lahore", "Pakistan"), ("Islamabad", "Pakistan"),
    ("Faisalabad", "Pakistan"), ("Dhaka", "Bangladesh"), ("Chittagong", "Bangladesh"),
    ("Kathmandu", "Nepal"), ("Colombo", "Sri Lanka"), ("Kandy", "Sri Lanka"),
    ("Thimphu", "Bhutan"), ("Male", "Maldives"), ("Kabul", "Afghanistan"),
    ("Bangkok", "Thailand"), ("Chiang Mai", "Thailand"), ("Phuket", "Thailand"),
    ("Hanoi", "Vietnam"), ("Ho Chi Minh City", "Vietnam"), ("Da Nang", "Vietnam"),
    ("Phnom Penh", "Cambodia"), ("Vientiane", "Laos"), ("Yangon", "Myanmar"),
    ("Mandalay", "Myanmar"), ("Kuala Lumpur", "Malaysia"), ("George Town", "Malaysia"),
    ("Singapore", "Singapore"), ("Jakarta", "Indonesia"), ("Surabaya", "Indonesia"),
    ("Bandung", "Indonesia"), ("Medan", "Indonesia"), ("Denpasar", "Indonesia"),
    ("Manila", "Philippines"), ("Quezon City", "Philippines"), ("Cebu City", "Philippines"),
    ("Davao City", "Philippines"),
    ("Tehran", "Iran"), ("Mashhad", "Iran"), ("Isfahan", "Iran"), ("Shiraz", "Iran"),
    ("Tabriz", "Iran"), ("Baghdad", "Iraq"), ("Basra", "Iraq"), ("Erbil", "Iraq"),
    ("Riyadh", "Saudi Arabia"), ("Jeddah", "Saudi Arabia"), ("Mecca", "Saudi Arabia"),
    ("Medina", "Saudi Arabia"), ("Dubai", "United Arab Emirates"),
    ("Abu Dhabi", "United Arab Emirates"), ("Doha", "Qatar"), ("Manama", "Bahrain"),
    ("Kuwait City", "Kuwait"), ("Muscat", "Oman"), ("Sanaa", "Yemen"), ("Amman", "Jordan"),
    ("Beirut", "Lebanon"), ("Damascus", "Syria"), ("Aleppo", "Syria"),
    ("Jerusalem", "Israel"), ("Tel Aviv", "Israel"), ("Haifa", "Israel"),
    ("Tbilisi", "Georgia"), ("Yerevan", "Armenia"), ("Baku", "Azerbaijan"),
    ("Almaty", "Kazakhstan"), ("Astana", "Kazakhstan"), ("Tashkent", "Uzbekistan"),
    ("Samarkand", "Uzbekistan"), ("Bishkek", "Kyrgyzstan"), ("Dushanbe", "Tajikistan"),
    ("Ashgabat", "Turkmenistan"),
    # Oceania
    ("Sydney", "Australia"), ("Melbourne", "Australia"), ("Brisbane", "Australia"),
    ("Perth", "Australia"), ("Adelaide", "Australia"), ("Canberra", "Australia"),
    ("Hobart", "Australia"), ("Darwin", "Australia"), ("Auckland", "New Zealand"),
    ("Wellington", "New Zealand"), ("Christchurch", "New Zealand"), ("Suva", "Fiji"),
    ("Port Moresby", "Papua New Guinea"),
]

N_SHOPS = 400
N_PEOPLE = 1000
N_TRANSACTIONS = 3000
# The city of every 50th shop, not in cities_raw: first.shops (an inner join) leaves them out.
UNKNOWN_CITY = "Atlantis"

_ADJECTIVES = ["Golden", "Little", "Blue", "Corner", "Happy", "Old", "Green", "Royal", "Urban",
               "Silver", "Sunny", "Quiet", "Grand", "Lucky", "Northern", "Red", "Wild"]
_NOUNS = ["Bakery", "Books", "Market", "Coffee", "Hardware", "Florist", "Bikes", "Grocer",
          "Tailor", "Records", "Pharmacy", "Deli", "Optician", "Toys", "Cheese", "Tea"]
_FIRST_NAMES = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
                "Edsger", "Radia", "Donald", "Hedy", "John", "Katherine", "Niklaus", "Sophie",
                "Tim", "Annie", "Guido", "Joan", "Bjarne", "Jean", "Leslie", "Mary", "Vint",
                "Karen", "Robin", "Shafi", "Yukihiro", "Lynn"]
_LAST_NAMES = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov",
               "Thompson", "Allen", "Dijkstra", "Perlman", "Knuth", "Lamarr", "Backus", "Johnson",
               "Wirth", "Wilson", "Berners-Lee", "Easley", "van Rossum", "Clarke", "Stroustrup",
               "Sammet", "Lamport", "Keller", "Cerf", "Jones", "Milner", "Goldwasser",
               "Matsumoto", "Conway", "Kay", "Codd"]
ACCOUNTS = ["sales", "rent", "salaries", "supplies", "marketing", "travel"]


def shops():
    """(id, name, city) for N_SHOPS shops; every 50th is in UNKNOWN_CITY."""
    rows = []
    for i in range(1, N_SHOPS + 1):
        name = f"{_ADJECTIVES[i % len(_ADJECTIVES)]} {_NOUNS[(i * 7) % len(_NOUNS)]} {i}"
        city = UNKNOWN_CITY if i % 50 == 0 else CITIES[(i * 37) % len(CITIES)][0]
        rows.append((i, name, city))
    return rows


def people():
    """(id, name, shop_id) for N_PEOPLE people; some point at shops that do not exist."""
    rows = []
    for i in range(1, N_PEOPLE + 1):
        name = (f"{_FIRST_NAMES[i % len(_FIRST_NAMES)]} "
                f"{_LAST_NAMES[(i * 11) % len(_LAST_NAMES)]}")
        shop_id = (i * 13) % (N_SHOPS + 10) + 1  # ids above N_SHOPS match no shop
        rows.append((i, name, shop_id))
    return rows


def _ident(name):
    return '"' + name.replace('"', '""') + '"'


def _literal(value):
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _create_role(name, login):
    """CREATE ROLE that tolerates the role existing (roles are shared by the whole cluster, and
    another load may be creating it at the same time); an existing role is given LOGIN when
    login is set."""
    option = "login" if login else "nologin"
    alter = f"alter role {_ident(name)} login;" if login else "null;"
    return (f"do $$ begin\n"
            f"    if exists (select 1 from pg_roles where rolname = {_literal(name)}) then {alter}\n"
            f"    else create role {_ident(name)} {option};\n"
            f"    end if;\n"
            f"exception when duplicate_object or unique_violation then null;\n"
            f"end $$;")


def _insert(table, columns, rows, chunk=500):
    out = []
    for i in range(0, len(rows), chunk):
        values = ",\n".join("    (" + ", ".join(_literal(v) for v in row) + ")"
                            for row in rows[i:i + chunk])
        out.append(f"insert into {table} ({', '.join(columns)}) values\n{values};")
    return out


def script(service_user=SERVICE_USER, login=False):
    """The SQL that creates, in the current database: the roles READER_ROLES (NOLOGIN, or LOGIN
    with login=True; no passwords; USAGE on SCHEMAS) and service_user (LOGIN, no password, not a
    superuser; may create schemas in this database, use and create in SCHEMAS and read the raw
    tables), the schemas SCHEMAS and the raw tables first.cities_raw, first.shops_raw, first.people_raw and
    finances.transactions_raw with their rows. Existing raw tables are replaced."""
    svc = _ident(service_user)
    out = ["-- Sample data for Duro's example repository (examples/views).",
           "-- Generated by examples/sampledata.py; load with psql -v ON_ERROR_STOP=1 -f.",
           "set client_min_messages = warning;"]
    out += [_create_role(role, login) for role in READER_ROLES]
    out.append(_create_role(service_user, True))
    out.append(f"do $$ begin\n"
               f"    execute format('grant create, connect on database %I to %I',\n"
               f"                   current_database(), {_literal(service_user)});\n"
               f"end $$;")
    readers = ", ".join(_ident(role) for role in READER_ROLES)
    for schema in SCHEMAS:
        out.append(f"create schema if not exists {_ident(schema)};")
        out.append(f"grant usage, create on schema {_ident(schema)} to {svc};")
        # Duro grants SELECT on each table; the schemas' USAGE is the administrator's.
        out.append(f"grant usage on schema {_ident(schema)} to {readers};")
    out += [
        "drop table if exists first.cities_raw, first.shops_raw, first.people_raw, "
        "finances.transactions_raw;",
        "create table first.cities_raw (city text, country text);",
        "create table first.shops_raw (id int primary key, name text not null, "
        "city text not null);",
        "create table first.people_raw (id int primary key, name text not null, shop_id int);",
        "create table finances.transactions_raw (id int primary key, "
        "booked_at timestamptz not null, account text not null, "
        "amount numeric(12, 2) not null, person_id int);",
    ]
    out += _insert("first.cities_raw", ("city", "country"), CITIES)
    out += _insert("first.shops_raw", ("id", "name", "city"), shops())
    out += _insert("first.people_raw", ("id", "name", "shop_id"), people())
    # Two years of bookings, every 5h 47m from 2023-01-01 UTC; every 97th has no person.
    accounts = "array[" + ", ".join(_literal(a) for a in ACCOUNTS) + "]"
    out.append(
        "insert into finances.transactions_raw (id, booked_at, account, amount, person_id)\n"
        "select g, timestamptz '2023-01-01 00:00:00+00' + g * interval '347 minutes',\n"
        f"       ({accounts})[1 + (g * 7) % {len(ACCOUNTS)}],\n"
        "       round(((g * 7919) % 200000 - 50000) / 100.0, 2),\n"
        f"       case when g % 97 = 0 then null else 1 + (g * 31) % {N_PEOPLE} end\n"
        f"from generate_series(1, {N_TRANSACTIONS}) g;")
    for table in ("first.cities_raw", "first.shops_raw", "first.people_raw",
                  "finances.transactions_raw"):
        out.append(f"grant select on {table} to {svc};")
    return "\n".join(out) + "\n"


def load(conn, service_user=SERVICE_USER, login=False):
    """Runs script() on conn (psycopg 3); commits unless conn is in autocommit."""
    conn.execute(script(service_user, login))
    if not conn.autocommit:
        conn.commit()


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description="Loads Duro's sample data into a database, or "
                                 "prints it as SQL.")
    ap.add_argument("dsn", nargs="?", help="a libpq connection string to load into")
    ap.add_argument("--sql", action="store_true", help="print the SQL script instead")
    ap.add_argument("--login", action="store_true",
                    help="let the reader roles (jane, john, joan, metabase) log in")
    args = ap.parse_args(argv[1:])
    if args.sql == bool(args.dsn):
        ap.error("give a DSN or --sql")
    if args.sql:
        sys.stdout.write(script(login=args.login))
        return 0
    import psycopg

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        load(conn, login=args.login)
    print(f"loaded {len(CITIES)} cities, {N_SHOPS} shops, {N_PEOPLE} people, "
          f"{N_TRANSACTIONS} transactions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
