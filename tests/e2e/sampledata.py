"""Sample warehouse data for the SPEC's example repository (examples/views): the raw tables its
views read, the roles its grants name and a service account that can build the views.

    load(conn)        creates everything in the connection's database (psycopg 3, any mode)

Deterministic: the same rows every time, no randomness. Paris is the only city whose country is
France (first/cities_test.sql requires every French city to be Paris). Roles are cluster-wide,
so creating them tolerates their existing already; tables are dropped and created again, so
load() can be run twice on one database. Also runnable on its own, for a demo:

    python3 sampledata.py "host=127.0.0.1 port=5432 dbname=demo user=postgres"

Standard library and psycopg only.
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


def _create_role(conn, name, login=False):
    """CREATE ROLE that tolerates the role existing (roles are shared by the whole cluster, and
    another test or a concurrent load may have created it)."""
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
    if exists:
        if login:
            conn.execute(f"alter role {_ident(name)} login")
        return
    option = "login" if login else "nologin"
    # The DO block swallows a concurrent creation between our check and our CREATE.
    conn.execute(f"""
        do $$ begin
            create role {_ident(name)} {option};
        exception when duplicate_object or unique_violation then null;
        end $$""")


def load(conn, service_user=SERVICE_USER):
    """Creates, in conn's database: the roles READER_ROLES (NOLOGIN) and service_user (LOGIN, no
    password; may create schemas in this database, use and create in SCHEMAS and read the raw
    tables; not a superuser), the schemas SCHEMAS and the raw tables first.cities_raw,
    first.shops_raw, first.people_raw and finances.transactions_raw with their rows. Existing raw
    tables are replaced. Commits (or runs in autocommit when conn is in autocommit)."""
    for role in READER_ROLES:
        _create_role(conn, role)
    _create_role(conn, service_user, login=True)
    svc = _ident(service_user)
    dbname = conn.execute("select current_database()").fetchone()[0]
    conn.execute(f"grant create, connect on database {_ident(dbname)} to {svc}")
    for schema in SCHEMAS:
        conn.execute(f"create schema if not exists {_ident(schema)}")
        conn.execute(f"grant usage, create on schema {_ident(schema)} to {svc}")

    conn.execute("drop table if exists first.cities_raw, first.shops_raw, first.people_raw, "
                 "finances.transactions_raw")
    conn.execute("create table first.cities_raw (city text, country text)")
    conn.execute("create table first.shops_raw (id int primary key, name text not null, "
                 "city text not null)")
    conn.execute("create table first.people_raw (id int primary key, name text not null, "
                 "shop_id int)")
    conn.execute("create table finances.transactions_raw (id int primary key, "
                 "booked_at timestamptz not null, account text not null, "
                 "amount numeric(12, 2) not null, person_id int)")

    conn.execute("insert into first.cities_raw (city, country) "
                 "select * from unnest(%s::text[], %s::text[])",
                 ([c for c, _ in CITIES], [k for _, k in CITIES]))
    rows = shops()
    conn.execute("insert into first.shops_raw (id, name, city) "
                 "select * from unnest(%s::int[], %s::text[], %s::text[])",
                 ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]))
    rows = people()
    conn.execute("insert into first.people_raw (id, name, shop_id) "
                 "select * from unnest(%s::int[], %s::text[], %s::int[])",
                 ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]))
    # Two years of bookings, every 5h 47m from 2023-01-01 UTC; every 97th has no person.
    conn.execute(
        "insert into finances.transactions_raw (id, booked_at, account, amount, person_id) "
        "select g, timestamptz '2023-01-01 00:00:00+00' + g * interval '347 minutes', "
        "       (%s::text[])[1 + (g * 7) %% %s], "
        "       round(((g * 7919) %% 200000 - 50000) / 100.0, 2), "
        "       case when g %% 97 = 0 then null else 1 + (g * 31) %% %s end "
        "from generate_series(1, %s) g",
        (ACCOUNTS, len(ACCOUNTS), N_PEOPLE, N_TRANSACTIONS))
    for table in ("first.cities_raw", "first.shops_raw", "first.people_raw",
                  "finances.transactions_raw"):
        conn.execute(f"grant select on {table} to {svc}")
    if not conn.autocommit:
        conn.commit()


def main(argv):
    import psycopg

    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(f"usage: {argv[0]} DSN   (a libpq connection string)", file=sys.stderr)
        return 2
    with psycopg.connect(argv[1], autocommit=True) as conn:
        load(conn)
    print(f"loaded {len(CITIES)} cities, {N_SHOPS} shops, {N_PEOPLE} people, "
          f"{N_TRANSACTIONS} transactions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
