"""Database URLs: parsed and checked when a job file is loaded, and never shown with their password.

A URL is read the way a person writes it: the user and password are everything before the last `@`
that a host follows, so a password is found (and masked) whatever it holds. Characters that libpq would
read as the end of the password (`@`, `/`) get the hint to percent-encode them; nothing of the password
is ever part of a message. Every password seen is remembered, and `redact` takes it out of any text
(a driver's error, a log line, a report, the ledger) by value, not by the shape of a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

# A scheme as written (any case, with a SQLAlchemy driver suffix) -> the engine it names.
POSTGRES_SCHEMES = ("postgresql", "postgres")
ENGINES = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql",
           "mssql": "mssql", "oracle": "oracle", "sqlite": "sqlite"}
# The SQLAlchemy driver each engine is read through (sources other than PostgreSQL).
DRIVERS = {"mysql": "mysql+pymysql", "mssql": "mssql+pyodbc", "oracle": "oracle+oracledb", "sqlite": "sqlite"}
_NAMES = {"mysql": "MySQL / MariaDB", "mssql": "SQL Server", "oracle": "Oracle", "sqlite": "SQLite"}
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)$", re.S)
_HOST_AND_PATH = re.compile(
    r"(?P<host>\[[^\]/?@]*\]|[^\[\]/?@:]*)(?::(?P<port>[^/?@]*))?(?P<path>/[^?]*)?(?:\?(?P<query>.*))?", re.S
)
_RESERVED_IN_PASSWORD = {"@": "%40", "/": "%2F"}
_MIN_SECRET = 4  # shorter passwords are masked inside URLs only: replacing "ab" everywhere would garble text
_SECRETS: set[str] = set()


class UrlError(ValueError):
    """A URL that cannot be used; the message names the job-file key and never holds the password."""


@dataclass(frozen=True)
class DatabaseUrl:
    user: str | None
    password: str | None
    host: str
    port: int | None
    database: str
    query: str | None
    engine: str = "postgres"  # a key of ENGINES' values: postgres, mysql, mssql, oracle, sqlite

    def conninfo(self) -> str:
        """The URL to connect with, user and password percent-encoded: libpq's for PostgreSQL, SQLAlchemy's
        (with the driver this tool reads the engine through) for the others."""
        auth = ""
        if self.user is not None:
            auth = quote(self.user, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        if self.engine == "sqlite":
            return f"sqlite:///{self.database}"
        return f"{self._scheme()}://{auth}{self._location()}"

    def masked(self) -> str:
        if self.engine == "sqlite":
            return f"sqlite:///{self.database}"
        auth = f"{self.user}{':***' if self.password else ''}@" if self.user is not None else ""
        return f"{self._scheme()}://{auth}{self._location()}"

    def _scheme(self) -> str:
        return "postgresql" if self.engine == "postgres" else DRIVERS[self.engine]

    def _location(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        query = f"?{self.query}" if self.query else ""
        return f"{self.host}{port}/{quote(self.database, safe='')}{query}"


def parse_database_url(text: str, key: str, engines: tuple[str, ...] = ("postgres",)) -> DatabaseUrl:
    """Parse a database URL of one of `engines` (also in its SQLAlchemy spelling, postgresql+psycopg2://);
    raises UrlError."""
    text = text.strip()
    found = _SCHEME.match(text)
    if not found:
        raise UrlError(f"`{key}` is not a URL: write postgresql://user:password@host:5432/database")
    scheme = found["scheme"].lower().split("+", 1)[0]
    engine = ENGINES.get(scheme)
    if engine not in engines:
        where = f" for `{key}` ({_NAMES[engine]} is read as a source only)" if engine in _NAMES else ""
        supported = ", ".join(s + "://" for s, e in ENGINES.items() if e in engines)
        raise UrlError(f"`{key}`: the scheme `{found['scheme']}://` is not supported{where}; supported: {supported}")
    if engine == "sqlite":
        return _sqlite(found["rest"], key)
    userinfo, location = _split_userinfo(found["rest"], key)
    user = password = None
    if userinfo is not None:
        raw_user, has_password, raw_password = userinfo.partition(":")
        password = unquote(raw_password) if has_password else None
        _remember(raw_password)
        _remember(password)
        for char, encoded in _RESERVED_IN_PASSWORD.items():
            for part, raw in (("password", raw_password), ("user name", raw_user)):
                if char in raw:
                    raise UrlError(
                        f"`{key}`: the {part} holds `{char}`, which ends it in a URL; write it percent-encoded "
                        f"(`{char}` as `{encoded}`)"
                    )
        user = unquote(raw_user)
    located = _located(location, user, password, key)
    return DatabaseUrl(located.user, located.password, located.host, located.port, located.database,
                       located.query, engine)


def _sqlite(rest: str, key: str) -> DatabaseUrl:
    """sqlite:///relative/file.db or sqlite:////absolute/file.db, as SQLAlchemy writes them."""
    if not rest.startswith("/") or len(rest) < 2:
        raise UrlError(f"`{key}`: write a SQLite file as sqlite:///path/to/file.db (four slashes for an absolute path)")
    return DatabaseUrl(None, None, "", None, rest[1:], None, "sqlite")


def _split_userinfo(rest: str, key: str) -> tuple[str | None, re.Match]:
    """(user[:password], host-and-path match): the last `@` that a well-formed host and path follow."""
    at = rest.rfind("@")
    while at >= 0:
        location = _HOST_AND_PATH.fullmatch(rest, at + 1)
        if location:
            return rest[:at], location
        at = rest.rfind("@", 0, at)
    location = _HOST_AND_PATH.fullmatch(rest)
    if location is None:
        hint = "write an IPv6 host in brackets, e.g. postgresql://user@[::1]:5432/database" if "[" in rest else (
            "write postgresql://user:password@host:5432/database")
        if "@" in rest:
            _remember(rest[: rest.rfind("@")].partition(":")[2])
        raise UrlError(f"`{key}` is not a well-formed URL: {hint}")
    return None, location


def _located(location: re.Match, user: str | None, password: str | None, key: str) -> DatabaseUrl:
    host, port, path, query = location["host"], location["port"], location["path"], location["query"]
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise UrlError(f"`{key}`: the port must be a number from 1 to 65535: write e.g. host:5432")
    database = unquote(path[1:]) if path else ""
    options = dict(part.partition("=")[::2] for part in (query or "").split("&") if part)
    if not database and "dbname" not in options:
        example = f"postgresql://{host or 'host'}/smart360"
        raise UrlError(f"`{key}` names no database: end it with /<database>, e.g. {example}")
    if not host and "host" not in options:
        raise UrlError(f"`{key}` names no host: e.g. postgresql://user@127.0.0.1:5432/{database or 'database'}")
    _remember(unquote(options.get("password", "")))
    return DatabaseUrl(user, password, host, int(port) if port else None, database, query)


def normalise_database_url(text: str, key: str, engines: tuple[str, ...] = ("postgres",)) -> str:
    """The URL to connect with (a libpq `key=value` string stays one); checks it first (UrlError)."""
    if "://" not in text and "=" in text:
        return _keyword_conninfo(text, key)
    return parse_database_url(text, key, engines).conninfo()


def url_engine(text: str) -> str:
    """The engine a checked URL names (a libpq `key=value` string is PostgreSQL)."""
    found = _SCHEME.match(text.strip())
    return ENGINES.get(found["scheme"].lower().split("+", 1)[0], "postgres") if found else "postgres"


def _keyword_conninfo(text: str, key: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    try:
        options = conninfo_to_dict(text)
    except Exception:  # psycopg's message quotes the string, password and all
        raise UrlError(f"`{key}` is not a valid libpq connection string: write key=value pairs, or a "
                       "postgresql://user:password@host:5432/database URL") from None
    _remember(str(options.get("password") or ""))
    return text


def masked_url(text: str) -> str:
    """A URL as it may be shown: its password replaced by ***; one that cannot be parsed is not shown."""
    try:
        if "://" not in text and "=" in text:
            _keyword_conninfo(text, "url")
            return redact_secrets(re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text))
        return parse_database_url(text, "url", tuple(set(ENGINES.values()))).masked()
    except UrlError:
        return "<a URL that cannot be parsed>"


def _remember(secret: str | None) -> None:
    if secret and len(secret) >= _MIN_SECRET:
        _SECRETS.add(secret)


def redact_secrets(text: str) -> str:
    """Every password seen in a URL taken out of `text`, as written and percent-encoded."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, "***")
    return text


def redact_url(url: str) -> str:
    """The URL with its password replaced, safe for output and logs."""
    return masked_url(url)


def _redact_urls_in(text: str) -> str:
    """Any password left in a URL or `password=` inside free text; after the known secrets are gone."""
    text = re.sub(r"(://[^:/@\s]*:)\S*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text)


_PARENS = r"\((?:[^()]|\([^()]*\))*\)"
_FAILING_ROW = re.compile(rf"Failing row contains {_PARENS}")
_KEY_VALUES = re.compile(rf"Key (\([^()]*\))={_PARENS}")


def redact(text: str) -> str:
    """Text safe for output, logs and the ledger: no URL passwords, and no row values that the database
    quotes in its errors ("Failing row contains (...)", "Key (id)=(...)"): those are personal data."""
    text = _FAILING_ROW.sub("Failing row contains (values hidden)", _redact_urls_in(redact_secrets(text)))
    return _KEY_VALUES.sub(r"Key \1=(values hidden)", text)
